// How a pending device link keeps the new device's KeyPackages until it is approved (one column, both stores).
import { decodeCbor, encodeCbor, type SuiteName } from '@sealpost/protocol';
import type { LinkRecord, NewKeyPackage } from './store.js';

export function encodeLinkKeyPackages(link: Pick<LinkRecord, 'keyPackages' | 'lastResort'>): Uint8Array {
  return encodeCbor([link.keyPackages.map((k) => [k.ref, k.data, k.suite ?? 'classic']), [link.lastResort.ref, link.lastResort.data]]);
}

export function decodeLinkKeyPackages(bytes: Uint8Array): { keyPackages: NewKeyPackage[]; lastResort: NewKeyPackage } {
  // Written by this server from a checked request; the bound is that request's body limit.
  // Each KeyPackage is [ref, data, suite]; a link written before suites has no third element (classic).
  const [kps, [lrRef, lrData]] = decodeCbor(bytes, 1024 * 1024, 'link.keyPackages') as [[string, Uint8Array, SuiteName?][], [string, Uint8Array]];
  return {
    keyPackages: kps.map(([ref, data, suite]) => ({ ref, data: new Uint8Array(data), suite: suite === 'pq-hybrid' ? 'pq-hybrid' : 'classic' })),
    lastResort: { ref: lrRef, data: new Uint8Array(lrData) },
  };
}
