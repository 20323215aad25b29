// Legal hold on the device (docs/legal-hold.md): which members of a conversation are held, whether the
// organisation's archive may be in it, and what this device remembers about it. The rule every client applies:
// the archive account's devices are members only while a published, organisation-signed hold — checked in the
// key-transparency log — names another member of the same conversation. Anything else is refused like a ghost
// device and raises the alarm. Membership (membership.ts) adds and removes the archive by ordinary commits;
// receiving (receiving.ts) checks each commit and Welcome that brings it in.
import { SealpostError, holdActive, isArchiveAccount, type ConversationId, type LegalHold, type UserId } from '@sealpost/protocol';
import type { ProfileStorage } from './profile-storage.js';
import type { DeviceTrust } from './trust.js';

/** What this device keeps about an archived conversation: since when the archive is in it, and the holds it saw. */
export interface ArchivedState {
  since: number;
  holds: { user: UserId; id: string; since: number; reason: string }[];
}

const archivedKey = (c: ConversationId) => `archived:${c}`;
const CHECKS = 'hold_checks';

export function archivedState(store: ProfileStorage, conversation: ConversationId): ArchivedState | undefined {
  const text = store.getMetaText(archivedKey(conversation));
  return text ? (JSON.parse(text) as ArchivedState) : undefined;
}

/**
 * After a conversation's members changed (in the caller's transaction): remember when the archive came in, forget
 * it when it left, and have membership look at the conversation again whenever the archive is in it — a held member
 * who left takes the archive's reason to be there with them.
 */
export function noteMembers(store: ProfileStorage, conversation: ConversationId, before: UserId[], after: UserId[], now: number): void {
  const was = before.some(isArchiveAccount);
  const is = after.some(isArchiveAccount);
  if (is && !was) store.setMeta(archivedKey(conversation), JSON.stringify({ since: now, holds: archivedState(store, conversation)?.holds ?? [] }));
  if (!is && was) store.setMeta(archivedKey(conversation), '');
  if (is && before.join(',') !== after.join(',')) markHoldCheck(store, conversation);
}

export function recordHolds(store: ProfileStorage, conversation: ConversationId, holds: LegalHold[]): void {
  const state = archivedState(store, conversation);
  if (!state) return;
  store.setMeta(archivedKey(conversation), JSON.stringify({ ...state, holds: holds.map((h) => ({ user: h.user, id: h.id, since: h.since, reason: h.reason })) }));
}

/** Conversations membership must bring in line with the holds on their members (a notice came, or members changed). */
export function markHoldCheck(store: ProfileStorage, conversation: ConversationId): void {
  const all = JSON.parse(store.getMetaText(CHECKS) || '[]') as ConversationId[];
  if (!all.includes(conversation)) store.setMeta(CHECKS, JSON.stringify([...all, conversation]));
}

export function pendingHoldChecks(store: ProfileStorage): ConversationId[] {
  return JSON.parse(store.getMetaText(CHECKS) || '[]') as ConversationId[];
}

export function doneHoldCheck(store: ProfileStorage, conversation: ConversationId): void {
  store.setMeta(CHECKS, JSON.stringify(pendingHoldChecks(store).filter((c) => c !== conversation)));
}

/**
 * The holds in force now on these users (the archive account itself never counts), each from the user's device list
 * and account record checked in the key-transparency log; `fresh` fetches the lists again (a hold may be new).
 */
export async function activeHolds(trust: DeviceTrust, users: UserId[], now: number, fresh: boolean): Promise<LegalHold[]> {
  const holds: LegalHold[] = [];
  for (const u of users) {
    if (isArchiveAccount(u)) continue;
    try {
      await trust.deviceList(u, fresh);
    } catch (err) {
      // A member whose list cannot be trusted is no reason to let the archive in.
      if (err instanceof SealpostError && ['DEVICE_LIST_INVALID', 'ACCOUNT_KEY_CHANGED', 'KEY_CHANGE_PENDING', 'USER_NOT_FOUND'].includes(err.code)) continue;
      throw err;
    }
    const h = trust.holdOf(u);
    if (h && holdActive(h, now)) holds.push(h);
  }
  return holds;
}

/**
 * Called when a commit or Welcome would make this device share a group with archive devices (`added`: devices of
 * the archive this commit brings in; for a Welcome, those already there). Throws ARCHIVE_REFUSED — after `alarm` —
 * unless a hold in force, published and signed by the organisation, names another member of the group.
 */
export async function checkArchiveJoin(
  trust: DeviceTrust,
  conversation: ConversationId,
  members: UserId[],
  now: number,
  alarm: (problem: string) => void,
): Promise<LegalHold[]> {
  const holds = await activeHolds(trust, members, now, true);
  if (holds.length > 0) return holds;
  const problem =
    `the organisation's archive was added to conversation ${conversation} (${members.filter((m) => !isArchiveAccount(m)).join(', ')}) ` +
    'but no published legal hold names any of its members: refused, this device stays out of the change';
  alarm(problem);
  throw new SealpostError('ARCHIVE_REFUSED', problem);
}

const ACKS = 'archive_acks';

/** Holds this device's user confirmed seeing before sending where they record (`send --ack-archived`). */
export function acknowledgedHolds(store: ProfileStorage): Set<string> {
  return new Set(JSON.parse(store.getMetaText(ACKS) || '[]') as string[]);
}

export function acknowledgeHolds(store: ProfileStorage, ids: string[]): void {
  const all = acknowledgedHolds(store);
  for (const id of ids) all.add(id);
  // The newest thousand are enough: a hold is acknowledged once, when it is new.
  store.setMeta(ACKS, JSON.stringify([...all].slice(-1000)));
}

/**
 * A send where the organisation's archive records (or will, from this message on) under holds this device's user has
 * not yet confirmed seeing. The app asks once — the CLI's `--ack-archived` or a yes — then calls
 * `acknowledgeArchived(holds)` and sends again.
 */
export class ArchiveNotAcknowledged extends SealpostError {
  constructor(readonly holds: LegalHold[]) {
    super(
      'ARCHIVE_NOT_ACKNOWLEDGED',
      `what you send here is recorded by your organisation's archive under the legal hold on ${holds
        .map((h) => `${h.user} (since ${new Date(h.since).toISOString()}: "${h.reason}")`)
        .join(', ')}; confirm once that you have seen this, then send again`,
    );
  }
}
