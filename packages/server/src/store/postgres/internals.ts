// What the PostgreSQL adapter's area files share besides the ServerStore methods: the pool, transactions, the
// batching queues and the helpers one area uses from another. `this` in every area file is this type, so the files
// depend on it and not on the adapter class that assembles them (postgres.ts).
import type pg from 'pg';
import type { ConversationId, DeviceId, QueueItem, SuiteName, UserId } from '@sealpost/protocol';
import type { AppendInput, AppendResult, Delivery, NewKeyPackage, Revocation, ServerStore, StoredDeviceList } from '../store.js';
import type { Row } from '../rows.js';
import type { Db } from './db.js';

export interface PostgresInternals extends ServerStore {
  readonly pool: pg.Pool;
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  one(sql: string, params?: unknown[], db?: Db): Promise<Row | undefined>;
  pendingAppends: { input: AppendInput; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }[];
  pendingAcks: { device: DeviceId; seqs: number[]; resolve: (n: number) => void; reject: (e: unknown) => void }[];
  members(db: Db | pg.Pool, id: ConversationId): Promise<DeviceId[]>;
  enqueue(db: Db, input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, recipients: DeviceId[]): Promise<Delivery>;
  lockMember(db: Db, conversation: ConversationId, device: DeviceId): Promise<{ epoch: number } | AppendResult>;
  flushAppends(): Promise<void>;
  appendStepByStep(input: AppendInput): Promise<AppendResult>;
  flushAcks(): Promise<void>;
  insertKeyPackages(db: Db, device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): Promise<void>;
  countIn(db: Db | pg.Pool, device: DeviceId, suite?: SuiteName): Promise<number>;
  recordListVersion(db: Db, user: UserId, list: StoredDeviceList): Promise<void>;
  markKtPending(db: Db, user: UserId): Promise<void>;
  revokeOne(db: Db, user: UserId, r: Revocation, now: number): Promise<Delivery>;
}
