// A legal hold (design.md, Legal hold): the organisation's signed statement that one user's conversations are
// recorded by its archive service from a given time, published in that user's account record in the
// key-transparency log so every client can see it and check it. It names exactly one user — no all-users hold
// exists — and a released hold is published as such (the record then commits to the release).
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { concatBytes, utf8 } from '../bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { parseUserId, zUserId, type UserId } from '../ids.js';
import { signLabelled, verifyLabelled } from '../signing.js';

export interface LegalHold {
  /** Random, names this hold in the audit log and in its release. */
  id: string;
  user: UserId;
  /** Why, as the admin wrote it (shown to the held user and their contacts). */
  reason: string;
  /** Milliseconds since the Unix epoch: recorded from then on. */
  since: number;
  /** When it ends by itself, if it does. */
  until?: number;
  /** When it was released (a release is a new signed statement of the same hold). */
  releasedAt?: number;
}

export interface SignedLegalHold {
  body: Uint8Array;
  signature: Uint8Array;
}

export const MAX_HOLD_REASON_CHARS = 500;
const MAX_HOLD_BYTES = 2048;

const zBody = z.tuple([
  z.literal('sealpost-legal-hold-v1'),
  z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  zUserId,
  z.string().min(1).max(MAX_HOLD_REASON_CHARS),
  z.number().int().min(0),
  z.number().int().min(0).nullable(),
  z.number().int().min(0).nullable(),
]);

export function encodeLegalHold(h: LegalHold): Uint8Array {
  return encodeCbor(['sealpost-legal-hold-v1', h.id, h.user, h.reason, h.since, h.until ?? null, h.releasedAt ?? null]);
}

export function decodeLegalHold(body: Uint8Array): LegalHold {
  const [, id, user, reason, since, until, releasedAt] = parseUnknown(zBody, decodeCbor(body, MAX_HOLD_BYTES, 'legalHold'), 'legalHold');
  return { id, user, reason, since, ...(until !== null ? { until } : {}), ...(releasedAt !== null ? { releasedAt } : {}) };
}

export async function signLegalHold(sig: Signature, orgPrivateKey: Uint8Array, h: LegalHold): Promise<SignedLegalHold> {
  const body = encodeLegalHold(h);
  return { body, signature: await signLabelled(sig, orgPrivateKey, 'legal-hold', body) };
}

/** What the account record commits to: the signed statement, body and signature both. */
export const legalHoldHash = (h: SignedLegalHold): Uint8Array =>
  sha256(concatBytes(utf8('Sealpost v1 legal-hold-hash\0'), encodeCbor([h.body, h.signature])));

export type LegalHoldVerdict = { kind: 'ok'; hold: LegalHold } | { kind: 'rejected'; reason: 'malformed' | 'bad-signature' | 'wrong-user' | 'not-in-log' };

/**
 * Accepts a hold only if the pinned organisation key signed it, it names `user`, and (when the account record
 * commits to one) it is the very hold the key-transparency log holds for that user.
 */
export async function verifyLegalHold(sig: Signature, orgPublicKey: Uint8Array, signed: SignedLegalHold, user: UserId, committed?: Uint8Array): Promise<LegalHoldVerdict> {
  let h: LegalHold;
  try {
    h = decodeLegalHold(signed.body);
  } catch {
    return { kind: 'rejected', reason: 'malformed' };
  }
  if (!(await verifyLabelled(sig, orgPublicKey, 'legal-hold', signed.body, signed.signature))) return { kind: 'rejected', reason: 'bad-signature' };
  if (h.user !== user) return { kind: 'rejected', reason: 'wrong-user' };
  if (committed) {
    const hash = legalHoldHash(signed);
    if (hash.length !== committed.length || hash.some((b, i) => b !== committed[i])) return { kind: 'rejected', reason: 'not-in-log' };
  }
  return { kind: 'ok', hold: h };
}

/** Whether a hold records at `at` (milliseconds): begun, not released, not past its end. */
export const holdActive = (h: LegalHold, at: number): boolean => h.since <= at && h.releasedAt === undefined && (h.until === undefined || at < h.until);

/**
 * The organisation's archive account: one per organisation, always this name at its domain, created only by
 * `sealpost admin archive create` (the server refuses the name to anything else). It is the only account a legal
 * hold lets into a conversation, and clients accept its devices as members only while a published hold names a
 * member of that conversation.
 */
export const ARCHIVE_LOCAL_PART = 'sealpost-archive';

/** The archive account of the organisation `user` belongs to (or of this domain). */
export function archiveAccountOf(userOrDomain: string): UserId {
  return parseUserId(`${ARCHIVE_LOCAL_PART}@${userOrDomain.slice(userOrDomain.lastIndexOf('@') + 1)}`);
}

export const isArchiveAccount = (user: string): boolean => user.startsWith(`${ARCHIVE_LOCAL_PART}@`);

/** A conversation's people: its members without the archive (which is there only because of one of them). */
export const peopleOf = <T extends string>(members: T[]): T[] => members.filter((u) => !isArchiveAccount(u));
