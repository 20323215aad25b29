// Monitoring a label: proofs for every version from the one a client saw last up to the latest, so that no
// version can come and go between two checks unseen (KEYTRANS "monitor"). A device monitors its own user's label:
// a version its devices did not make — even one the server replaced again a moment later — raises the alarm.
//
// Our encoding (the draft's binary ladder proves versions with fewer lookups; ours is the direct form): the
// search answer for the latest version n (n present, n+1 absent, head, consistency) plus, for each earlier version
// from `from` on, its value, opening, VRF proof and prefix proof — all against the one prefix root of the newest
// epoch. At most MAX_MONITOR_VERSIONS earlier versions per answer; a client pages with a higher `from`.
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { bytesEqual } from '../bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { prefixRootFromProof, type PrefixProof } from './prefix-tree.js';
import { commitment, vrfInput, type TreeHead } from './records.js';
import { decPrefix, decodeSearchResponse, encPrefix, encodeSearchResponse, verifySearch, zPrefixProof, type KtKeys, type SearchResponse, type SearchVerdict } from './search.js';
import { vrfVerify } from './vrf.js';

export const MAX_MONITOR_VERSIONS = 64;
export const MAX_MONITOR_RESPONSE_BYTES = 256 * 1024;

export interface VersionProof {
  version: number;
  value: Uint8Array;
  opening: Uint8Array;
  vrfProof: Uint8Array;
  prefixProof: PrefixProof;
}

export interface MonitorResponse {
  /** The first version asked about. */
  from: number;
  /** Versions from, from+1, … below the latest (at most MAX_MONITOR_VERSIONS). */
  earlier: VersionProof[];
  /** The latest version, with the head and consistency proof. */
  search: SearchResponse;
}

const b = (len?: number) => z.instanceof(Uint8Array).refine((x) => len === undefined || x.length === len, `must be ${len} bytes`);
const zMonitor = z.tuple([
  z.literal('sealpost-kt-monitor-v1'),
  z.number().int().min(1),
  z.array(z.tuple([z.number().int().min(1), b(), b(16), b(80), zPrefixProof])).max(MAX_MONITOR_VERSIONS),
  b(),
]);

export function encodeMonitorResponse(r: MonitorResponse): Uint8Array {
  return encodeCbor([
    'sealpost-kt-monitor-v1',
    r.from,
    r.earlier.map((e) => [e.version, e.value, e.opening, e.vrfProof, encPrefix(e.prefixProof)]),
    encodeSearchResponse(r.search),
  ]);
}

export function decodeMonitorResponse(bytes: Uint8Array): MonitorResponse {
  const v = parseUnknown(zMonitor, decodeCbor(bytes, MAX_MONITOR_RESPONSE_BYTES, 'ktMonitor'), 'ktMonitor');
  return {
    from: v[1],
    earlier: v[2].map((e) => ({ version: e[0], value: new Uint8Array(e[1]), opening: new Uint8Array(e[2]), vrfProof: new Uint8Array(e[3]), prefixProof: decPrefix(e[4]) })),
    search: decodeSearchResponse(new Uint8Array(v[3])),
  };
}

export type MonitorVerdict =
  | {
      kind: 'ok';
      /** Every version proven, in order: from … latest (or up to where this page ends). */
      versions: { version: number; value: Uint8Array }[];
      latest: number;
      /** False when more earlier versions remain: ask again from the next one. */
      complete: boolean;
      head: TreeHead;
    }
  | { kind: 'rejected'; reason: Extract<SearchVerdict, { kind: 'rejected' }>['reason'] | 'wrong-range' | 'missing-version' };

/**
 * Verify a monitor answer for `label` from version `from`: the search part completely (see verifySearch), then
 * each earlier version present with its committed value under the same prefix root, with no gap.
 */
export async function verifyMonitor(sig: Signature, keys: KtKeys, label: string, from: number, r: MonitorResponse, last?: Pick<TreeHead, 'size' | 'root'>): Promise<MonitorVerdict> {
  if (r.from !== from) return { kind: 'rejected', reason: 'wrong-range' };
  const s = await verifySearch(sig, keys, label, r.search, last);
  if (s.kind !== 'ok') return s;
  const latest = s.version;
  const expected = Math.max(0, Math.min(latest - from, MAX_MONITOR_VERSIONS));
  if (r.earlier.length !== expected) return { kind: 'rejected', reason: 'missing-version' };
  const versions: { version: number; value: Uint8Array }[] = [];
  for (const [i, e] of r.earlier.entries()) {
    if (e.version !== from + i) return { kind: 'rejected', reason: 'missing-version' };
    const beta = vrfVerify(keys.vrfKey, vrfInput(label, e.version), e.vrfProof);
    if (!beta) return { kind: 'rejected', reason: 'bad-vrf-proof' };
    const at = prefixRootFromProof(beta.subarray(0, 32), e.prefixProof);
    if (!at || !bytesEqual(at.root, r.search.epoch.prefixRoot)) return { kind: 'rejected', reason: 'bad-prefix-proof' };
    if (!at.found || !bytesEqual(at.found, commitment(e.opening, label, e.version, e.value))) return { kind: 'rejected', reason: 'commitment-mismatch' };
    versions.push({ version: e.version, value: e.value });
  }
  const complete = from + r.earlier.length >= latest;
  if (complete && latest >= from && s.value) versions.push({ version: latest, value: s.value });
  return { kind: 'ok', versions, latest, complete, head: s.head };
}
