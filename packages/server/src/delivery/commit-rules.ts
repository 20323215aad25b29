// The Delivery Service's rules for a commit, written once for every store adapter (design.md, "the server is the MLS
// Delivery Service"). An adapter reads the facts inside its transaction (the conversation row locked), asks
// `decideCommit`, and writes what it says: the adapters supply row operations, never the rules.
import type { DeviceId } from '@sealpost/protocol';
import type { AppendResult, CommitInput } from '../store/store.js';

/** What the store holds about a commit's conversation and the devices it names, read in the commit's transaction. */
export interface CommitFacts {
  /** The conversation's current epoch. */
  epoch: number;
  /** The id of the commit already accepted for `input.epoch`, if any. */
  acceptedAtEpoch: string | undefined;
  /** The conversation's member devices now. */
  members: ReadonlySet<DeviceId>;
  /** Each device the commit adds or removes: whether the server knows it, and whether it was revoked. */
  devices: ReadonlyMap<DeviceId, 'active' | 'revoked'>;
}

/** Accept: who gets the commit (every member but the sender, removed devices too, so they learn it). */
export type CommitDecision = { kind: 'accept'; recipients: DeviceId[] } | Exclude<AppendResult, { kind: 'ok'; duplicate: false }>;

/** The devices whose state `decideCommit` needs (those the commit adds or removes). */
export function devicesNamed(input: CommitInput): DeviceId[] {
  return [...new Set([...input.add, ...input.remove])];
}

export function decideCommit(input: CommitInput, facts: CommitFacts): CommitDecision {
  if (facts.acceptedAtEpoch !== undefined) {
    // RFC 9420 §14: exactly one commit per epoch, first wins. A retry of the winner is acknowledged again.
    if (facts.acceptedAtEpoch === input.id) return { kind: 'ok', epoch: input.epoch + 1, deliveries: [], duplicate: true };
    return { kind: 'epoch-conflict', epoch: facts.epoch };
  }
  if (input.epoch !== facts.epoch) return { kind: 'epoch-conflict', epoch: facts.epoch };
  for (const d of input.remove) {
    // A revoked device already left the server's member list; the commit that removes its leaf is welcome.
    if (!facts.members.has(d) && facts.devices.get(d) !== 'revoked') return { kind: 'invalid', message: `commit.remove: ${d} is not a member` };
    if (d === input.sender.device) return { kind: 'invalid', message: 'commit.remove: a device cannot remove itself by commit' };
  }
  for (const d of input.add) {
    if (facts.members.has(d)) return { kind: 'invalid', message: `commit.add: ${d} is already a member` };
    if (facts.devices.get(d) !== 'active') return { kind: 'invalid', message: `commit.add: unknown or revoked device ${d}` };
  }
  if (input.add.length > 0 && !input.welcome) return { kind: 'invalid', message: 'commit.w: a commit that adds devices needs a Welcome' };
  return { kind: 'accept', recipients: [...facts.members].filter((d) => d !== input.sender.device) };
}
