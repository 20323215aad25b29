// What the SQLite adapter's area files share besides the ServerStore methods: the database, prepared statements,
// the group-commit queues and the helpers one area uses from another. `this` in every area file is this type, so
// the files depend on it and not on the adapter class that assembles them (sqlite.ts).
import type Database from 'better-sqlite3';
import type { Outcome as GroupOutcome, Waiting } from './group-commit.js';
import type { ConversationId, DeviceId, QueueItem, SuiteName, UserId } from '@sealpost/protocol';
import type { AppendInput, AppendResult, Delivery, InboundInput, InboundResult, NewKeyPackage, Revocation, ServerStore, StoredDeviceList } from '../store.js';

/** What one append of a group-committed batch came to. */
export type Outcome = GroupOutcome<AppendResult>;

export interface SqliteInternals extends ServerStore {
  readonly db: Database.Database;
  stmt(sql: string): Database.Statement;
  readonly appendBatchTx: (inputs: AppendInput[], outcomes: Outcome[]) => void;
  readonly appendOneTx: (input: AppendInput) => AppendResult;
  readonly ackBatchTx: (batch: { device: DeviceId; seqs: number[] }[]) => number[];
  readonly inboundBatchTx: (inputs: InboundInput[]) => GroupOutcome<InboundResult>[];
  pendingInbound: Waiting<InboundInput, InboundResult>[];
  flushInbound(): void;
  appendInboundOne(input: InboundInput): InboundResult;
  pendingAppends: Waiting<AppendInput, AppendResult>[];
  pendingAcks: { device: DeviceId; seqs: number[]; resolve: (n: number) => void; reject: (e: unknown) => void }[];
  membersSync(id: ConversationId): DeviceId[];
  insertMessage(input: AppendInput, kind: QueueItem['k'], payload: Uint8Array): number | bigint;
  enqueue(input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, recipients: DeviceId[]): Delivery;
  enqueueToMembers(input: AppendInput): Delivery;
  checkMember(conversation: ConversationId, device: DeviceId): { epoch: number } | AppendResult;
  flushAppends(): void;
  appendOne(input: AppendInput): AppendResult;
  flushAcks(): void;
  ackBatch(batch: { device: DeviceId; seqs: number[] }[]): number[];
  insertKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): void;
  countSync(device: DeviceId, suite?: SuiteName): number;
  recordListVersion(user: UserId, list: StoredDeviceList): void;
  markKtPending(user: UserId): void;
  revokeOne(user: UserId, r: Revocation, now: number): Delivery;
}
