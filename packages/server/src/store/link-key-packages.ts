// How a pending device link keeps the new device's KeyPackages until it is approved (one column, both stores).
import { decodeCbor, encodeCbor } from '@sealpost/protocol';
import type { LinkRecord, NewKeyPackage } from './store.js';

export function encodeLinkKeyPackages(link: Pick<LinkRecord, 'keyPackages' | 'lastResort'>): Uint8Array {
  return encodeCbor([link.keyPackages.map((k) => [k.ref, k.data]), [link.lastResort.ref, link.lastResort.data]]);
}

export function decodeLinkKeyPackages(bytes: Uint8Array): { keyPackages: NewKeyPackage[]; lastResort: NewKeyPackage } {
  // Written by this server from a checked request; the bound is that request's body limit.
  const [kps, [lrRef, lrData]] = decodeCbor(bytes, 1024 * 1024, 'link.keyPackages') as [[string, Uint8Array][], [string, Uint8Array]];
  return { keyPackages: kps.map(([ref, data]) => ({ ref, data: new Uint8Array(data) })), lastResort: { ref: lrRef, data: new Uint8Array(lrData) } };
}
