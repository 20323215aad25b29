// The Delivery Service's rules for an application message, written once for every store adapter: the sender must
// be a member of an existing conversation, a message id already stored is a retry (acknowledged, not stored twice),
// the epoch must be the conversation's current one (a message overtaken by a commit is re-encrypted by its sender),
// and every file it refers to must be complete and held by the sender. Adapters read the facts in their
// transaction and store what `decideAppend` accepts. (PostgreSQL's batched statement checks the same conditions in
// SQL for the common case and hands every message that fails one to its step-by-step path, which asks here.)
import type { BlobId } from '@sealpost/protocol';
import type { AppendInput, AppendResult } from '../store/store.js';

export interface AppendFacts {
  /** The conversation's current epoch, or undefined when there is no such conversation. */
  epoch: number | undefined;
  /** Whether the sender's device is a member. */
  member: boolean;
  /** Whether a message with this id is already stored in the conversation. */
  stored: boolean;
  /** The first referenced blob the sender cannot use (incomplete, unknown, or not granted to it), if any. */
  unusableBlob: BlobId | undefined;
}

export type AppendDecision = { kind: 'accept'; epoch: number } | Exclude<AppendResult, { kind: 'ok'; duplicate: false }>;

export function decideAppend(input: AppendInput, facts: AppendFacts): AppendDecision {
  if (facts.epoch === undefined) return { kind: 'not-found' };
  if (!facts.member) return { kind: 'not-member' };
  if (facts.stored) return { kind: 'ok', epoch: facts.epoch, deliveries: [], duplicate: true };
  if (input.epoch !== facts.epoch) return { kind: 'epoch-conflict', epoch: facts.epoch };
  if (facts.unusableBlob !== undefined) return { kind: 'blob-not-found', blob: facts.unusableBlob };
  return { kind: 'accept', epoch: facts.epoch };
}
