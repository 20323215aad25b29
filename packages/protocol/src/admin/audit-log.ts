// The admin audit log: append-only and hash-linked. Each entry's hash covers its fields and the previous entry's
// hash, so changing, removing or reordering any past entry breaks every hash after it; `verifyAuditLog` recomputes
// the chain end to end. A head hash an auditor noted earlier proves later that nothing before it was rewritten.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes, utf8 } from '../bytes.js';
import { encodeCbor } from '../codec.js';

export type AuditDetails = Record<string, string | number | boolean | null>;

export interface AuditFields {
  seq: number;
  /** Milliseconds since the Unix epoch. */
  at: number;
  /** Which admin credential acted (its name), or "system". */
  actor: string;
  /** e.g. "user.add", "device.wipe", "policy.set", "lookup". */
  action: string;
  /** What it acted on (a user, a device, a policy setting). */
  target: string;
  details: AuditDetails;
}

export interface AuditEntry extends AuditFields {
  prevHash: Uint8Array;
  hash: Uint8Array;
}

export const AUDIT_GENESIS: Uint8Array = new Uint8Array(32);

/** SHA-256("Sealpost v1 audit-entry\0" ‖ CBOR[seq, at, actor, action, target, sorted details] ‖ prevHash). */
export function auditEntryHash(prevHash: Uint8Array, e: AuditFields): Uint8Array {
  const details = Object.keys(e.details)
    .sort()
    .map((k) => [k, e.details[k]]);
  return sha256(concatBytes(utf8('Sealpost v1 audit-entry\0'), encodeCbor([e.seq, e.at, e.actor, e.action, e.target, details]), prevHash));
}

export type AuditVerdict =
  | { kind: 'ok'; entries: number; head: Uint8Array }
  | { kind: 'broken'; seq: number; reason: 'hash-mismatch' | 'chain-broken' | 'sequence-gap' | 'head-not-found' };

/**
 * Checks the whole chain from the first entry. With `knownHead` (a head hash seen earlier), also checks that this
 * head is still in the chain: a log rewritten or truncated since then is reported.
 */
export function verifyAuditLog(entries: AuditEntry[], knownHead?: Uint8Array): AuditVerdict {
  let prev: Uint8Array = AUDIT_GENESIS;
  let headSeen = knownHead === undefined;
  for (const [i, e] of entries.entries()) {
    if (e.seq !== i + 1) return { kind: 'broken', seq: e.seq, reason: 'sequence-gap' };
    if (!bytesEqual(e.prevHash, prev)) return { kind: 'broken', seq: e.seq, reason: 'chain-broken' };
    if (!bytesEqual(auditEntryHash(prev, e), e.hash)) return { kind: 'broken', seq: e.seq, reason: 'hash-mismatch' };
    if (knownHead && bytesEqual(e.hash, knownHead)) headSeen = true;
    prev = e.hash;
  }
  if (!headSeen) return { kind: 'broken', seq: entries.length, reason: 'head-not-found' };
  return { kind: 'ok', entries: entries.length, head: prev };
}
