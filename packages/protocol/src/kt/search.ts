// A search answer of the key-transparency log and its verification. For label L the server shows its latest
// version n with the value and opening, VRF proofs for (L, n) and (L, n+1), prefix-tree proofs that (L, n) is
// present and (L, n+1) absent in the latest epoch, that epoch's leaf with its inclusion in the signed tree head,
// and a consistency proof from the head the client verified last. The client can compute everything else.
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { bytesEqual } from '../bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { leafHash, verifyConsistency, verifyInclusion } from './log-tree.js';
import { prefixRootFromProof, type PrefixProof } from './prefix-tree.js';
import { commitment, encodeEpochLeaf, verifyTreeHead, vrfInput, type EpochLeaf, type TreeHead } from './records.js';
import { vrfVerify } from './vrf.js';

export interface SearchResponse {
  label: string;
  /** 0: the label has no version yet. */
  version: number;
  value: Uint8Array | undefined;
  opening: Uint8Array | undefined;
  vrfProof: Uint8Array | undefined;
  prefixProof: PrefixProof | undefined;
  nextVrfProof: Uint8Array;
  nextPrefixProof: PrefixProof;
  epoch: EpochLeaf;
  logProof: Uint8Array[];
  head: TreeHead;
  /** From the size the client asked about (`since`) to `head.size`; empty when not asked. */
  consistency: Uint8Array[];
}

export const MAX_SEARCH_RESPONSE_BYTES = 64 * 1024;

const b = (len?: number) => z.instanceof(Uint8Array).refine((x) => len === undefined || x.length === len, `must be ${len} bytes`);
/** CBOR shape of a prefix proof (also used by monitor answers). */
export const zPrefixProof = z.tuple([z.array(b(32)).max(256), z.union([z.null(), z.tuple([b(32), b(32)])])]);
const zSearch = z.tuple([
  z.literal('sealpost-kt-search-v1'),
  z.string().max(320),
  z.number().int().min(0),
  z.union([z.null(), z.instanceof(Uint8Array)]),
  z.union([z.null(), b(16)]),
  z.union([z.null(), b(80)]),
  z.union([z.null(), zPrefixProof]),
  b(80),
  zPrefixProof,
  z.tuple([z.number().int().min(0), z.number().int().min(0), b(32)]),
  z.array(b(32)).max(64),
  z.tuple([z.number().int().min(1), b(32), z.number().int().min(0), b(64)]),
  z.array(b(32)).max(128),
]);

export const encPrefix = (p: PrefixProof) => [p.siblings, p.terminal.kind === 'empty' ? null : [p.terminal.index, p.terminal.commitment]];
export const decPrefix = (p: z.output<typeof zPrefixProof>): PrefixProof => ({
  siblings: p[0].map((s) => new Uint8Array(s)),
  terminal: p[1] === null ? { kind: 'empty' } : { kind: 'leaf', index: new Uint8Array(p[1][0]), commitment: new Uint8Array(p[1][1]) },
});

export function encodeSearchResponse(r: SearchResponse): Uint8Array {
  return encodeCbor([
    'sealpost-kt-search-v1',
    r.label,
    r.version,
    r.value ?? null,
    r.opening ?? null,
    r.vrfProof ?? null,
    r.prefixProof ? encPrefix(r.prefixProof) : null,
    r.nextVrfProof,
    encPrefix(r.nextPrefixProof),
    [r.epoch.epoch, r.epoch.timestamp, r.epoch.prefixRoot],
    r.logProof,
    [r.head.size, r.head.root, r.head.timestamp, r.head.signature],
    r.consistency,
  ]);
}

export function decodeSearchResponse(bytes: Uint8Array): SearchResponse {
  const v = parseUnknown(zSearch, decodeCbor(bytes, MAX_SEARCH_RESPONSE_BYTES, 'ktSearch'), 'ktSearch');
  return {
    label: v[1],
    version: v[2],
    value: v[3] ? new Uint8Array(v[3]) : undefined,
    opening: v[4] ? new Uint8Array(v[4]) : undefined,
    vrfProof: v[5] ? new Uint8Array(v[5]) : undefined,
    prefixProof: v[6] ? decPrefix(v[6]) : undefined,
    nextVrfProof: new Uint8Array(v[7]),
    nextPrefixProof: decPrefix(v[8]),
    epoch: { epoch: v[9][0], timestamp: v[9][1], prefixRoot: new Uint8Array(v[9][2]) },
    logProof: v[10].map((x) => new Uint8Array(x)),
    head: { size: v[11][0], root: new Uint8Array(v[11][1]), timestamp: v[11][2], signature: new Uint8Array(v[11][3]) },
    consistency: v[12].map((x) => new Uint8Array(x)),
  };
}

export interface KtKeys {
  /** Verifies the server's tree heads. */
  signatureKey: Uint8Array;
  /** The server's VRF public key. */
  vrfKey: Uint8Array;
}

export type SearchVerdict =
  | { kind: 'ok'; version: number; value: Uint8Array | undefined; head: TreeHead }
  | {
      kind: 'rejected';
      reason:
        | 'wrong-label'
        | 'bad-head-signature'
        | 'stale-head'
        | 'forked-head'
        | 'not-consistent'
        | 'epoch-not-in-head'
        | 'bad-vrf-proof'
        | 'bad-prefix-proof'
        | 'version-not-latest'
        | 'commitment-mismatch';
    };

/**
 * Verify a search answer completely. `last` is the tree head this client verified before (persisted): the new
 * head must not be older (a replayed head), must equal it at the same size (else the log forked), and must be
 * consistent with it. Expected outcomes are values; nothing throws.
 */
export async function verifySearch(sig: Signature, keys: KtKeys, label: string, r: SearchResponse, last?: Pick<TreeHead, 'size' | 'root'>): Promise<SearchVerdict> {
  const no = (reason: Extract<SearchVerdict, { kind: 'rejected' }>['reason']): SearchVerdict => ({ kind: 'rejected', reason });
  if (r.label !== label) return no('wrong-label');
  if (!(await verifyTreeHead(sig, keys.signatureKey, r.head))) return no('bad-head-signature');
  if (last) {
    if (r.head.size < last.size) return no('stale-head');
    if (r.head.size === last.size && !bytesEqual(r.head.root, last.root)) return no('forked-head');
    if (r.head.size > last.size && !verifyConsistency(last.size, r.head.size, r.consistency, last.root, r.head.root)) return no('not-consistent');
  }
  // The epoch shown is the newest one in the head.
  if (r.epoch.epoch !== r.head.size - 1) return no('epoch-not-in-head');
  if (!verifyInclusion(leafHash(encodeEpochLeaf(r.epoch)), r.epoch.epoch, r.head.size, r.logProof, r.head.root)) return no('epoch-not-in-head');
  // Version n is present with this value…
  if (r.version > 0) {
    if (!r.vrfProof || !r.prefixProof || !r.value || !r.opening) return no('bad-prefix-proof');
    const beta = vrfVerify(keys.vrfKey, vrfInput(label, r.version), r.vrfProof);
    if (!beta) return no('bad-vrf-proof');
    const at = prefixRootFromProof(beta.subarray(0, 32), r.prefixProof);
    if (!at || !bytesEqual(at.root, r.epoch.prefixRoot)) return no('bad-prefix-proof');
    if (!at.found || !bytesEqual(at.found, commitment(r.opening, label, r.version, r.value))) return no('commitment-mismatch');
  }
  // …and version n+1 is absent, so n is the latest.
  const nextBeta = vrfVerify(keys.vrfKey, vrfInput(label, r.version + 1), r.nextVrfProof);
  if (!nextBeta) return no('bad-vrf-proof');
  const next = prefixRootFromProof(nextBeta.subarray(0, 32), r.nextPrefixProof);
  if (!next || !bytesEqual(next.root, r.epoch.prefixRoot)) return no('bad-prefix-proof');
  if (next.found) return no('version-not-latest');
  return { kind: 'ok', version: r.version, value: r.value, head: r.head };
}
