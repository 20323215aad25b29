// ServerStore on SQLite (better-sqlite3): one file in the data folder, WAL mode, synchronous=FULL so that an
// acknowledged message survives a crash. better-sqlite3 is synchronous; each method is one transaction. The methods
// live by area in sqlite/ (directory, sessions, delivery, blobs, admin, kt); this file opens the database and holds
// the shared state.
import Database from 'better-sqlite3';
import { type DeviceId } from '@sealpost/protocol';
import { sqliteMigrations } from './sqlite-migrations.js';
import { type Row } from './rows.js';
import type { AppendInput, AppendResult, InboundInput, InboundResult, ServerStore } from './store.js';
import { chmodSync } from 'node:fs';
import type { Outcome } from './sqlite/internals.js';
import type { Outcome as GroupOutcome, Waiting } from './sqlite/group-commit.js';
import { sqliteDirectory } from './sqlite/directory.js';
import { sqliteSessions } from './sqlite/sessions.js';
import { sqliteDelivery } from './sqlite/delivery.js';
import { sqliteBlobs } from './sqlite/blobs.js';
import { sqliteAdmin } from './sqlite/admin.js';
import { sqliteKt } from './sqlite/kt.js';
import { sqliteMail } from './sqlite/mail.js';

export function openSqliteStore(file: string): SqliteStore {
  const db = new Database(file);
  // The database holds hashes and metadata only, but no one else on the machine needs to read it.
  if (file !== ':memory:') chmodSync(file, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return new SqliteStore(db);
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => r.version as number));
  for (const m of sqliteMigrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
}


type Parts = typeof sqliteDirectory & typeof sqliteSessions & typeof sqliteDelivery & typeof sqliteBlobs & typeof sqliteAdmin & typeof sqliteKt & typeof sqliteMail;
// The adapter's methods live in sqlite/, one file per area, on this class's prototype (one type, its impl spread over
// files by concern). Its members are not private: the area files use them.
export interface SqliteStore extends Parts {}

export class SqliteStore implements ServerStore {
  // better-sqlite3 prepares BEGIN/COMMIT when a transaction function is made, so the hot ones are made once.
  readonly appendBatchTx: (inputs: AppendInput[], outcomes: Outcome[]) => void;
  /** Nested inside appendBatchTx it runs as a savepoint: a throw undoes that one append only. */
  readonly appendOneTx: (input: AppendInput) => AppendResult;
  readonly ackBatchTx: (batch: { device: DeviceId; seqs: number[] }[]) => number[];
  readonly inboundBatchTx: (inputs: InboundInput[]) => GroupOutcome<InboundResult>[];

  constructor(readonly db: Database.Database) {
    this.appendOneTx = db.transaction((input: AppendInput): AppendResult => this.appendOne(input));
    this.appendBatchTx = db.transaction((inputs: AppendInput[], outcomes: Outcome[]) => {
      for (const input of inputs) {
        try {
          outcomes.push({ ok: this.appendOneTx(input) });
        } catch (err) {
          outcomes.push({ err });
        }
      }
    });
    this.ackBatchTx = db.transaction((batch: { device: DeviceId; seqs: number[] }[]) => this.ackBatch(batch));
    // Each inbound append in its own savepoint (a nested transaction): one that fails fails alone.
    const inboundOneTx = db.transaction((input: InboundInput): InboundResult => this.appendInboundOne(input));
    this.inboundBatchTx = db.transaction((inputs: InboundInput[]) =>
      inputs.map((i) => {
        try {
          return { ok: inboundOneTx(i) };
        } catch (err) {
          return { err };
        }
      }),
    );
  }

  // Prepared once, reused: preparing a statement costs more than running it on the hot path.
  private readonly statements = new Map<string, Database.Statement>();
  stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  async close(): Promise<void> {
    // Appends already accepted into a batch are stored (and answered) before the database closes.
    while (this.db.open && this.pendingAppends.length > 0) this.flushAppends();
    while (this.db.open && this.pendingInbound.length > 0) this.flushInbound();
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<boolean> {
    try {
      this.stmt('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return row?.value as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Appends and acks waiting for the next group commit (sqlite/delivery.ts). */
  pendingAppends: Waiting<AppendInput, AppendResult>[] = [];
  pendingAcks: { device: DeviceId; seqs: number[]; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  /** Inbound outside mail waiting for the next group commit (sqlite/mail.ts). */
  pendingInbound: Waiting<InboundInput, InboundResult>[] = [];
}

Object.assign(SqliteStore.prototype, sqliteDirectory, sqliteSessions, sqliteDelivery, sqliteBlobs, sqliteAdmin, sqliteKt, sqliteMail);
