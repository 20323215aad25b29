// ServerStore on PostgreSQL (pg), for many server nodes sharing one database. Same contract as the SQLite store
// (store/contract.testkit.ts). Each method is one transaction; per-conversation rules (one commit per epoch,
// messages only for the current epoch) hold across nodes because they lock the conversation row.
import pg from 'pg';
import { type DeviceId } from '@sealpost/protocol';
import { postgresMigrations } from './postgres-migrations.js';
import { type Row } from './rows.js';
import type { AppendInput, AppendResult, ServerStore } from './store.js';
import { type Db } from './postgres/db.js';
import { postgresDirectory } from './postgres/directory.js';
import { postgresSessions } from './postgres/sessions.js';
import { postgresDelivery } from './postgres/delivery.js';
import { postgresBlobs } from './postgres/blobs.js';
import { postgresAdmin } from './postgres/admin.js';
import { postgresKt } from './postgres/kt.js';
import { postgresMail } from './postgres/mail.js';

// BIGINT (oid 20) as a JavaScript number: every BIGINT here is a millisecond time, a size or a sequence number.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};
const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresStoreOptions {
  /** postgres://… connection string. */
  url: string;
  /** Schema to use (created if missing); default "public". */
  schema?: string;
  poolSize?: number;
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = opts.schema ?? 'public';
  if (!schemaPattern.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    types,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  });
  // A pool error (a dropped idle connection, a database restart) must not crash the node; the next query reconnects.
  pool.on('error', () => {});
  const store = new PostgresStore(pool);
  await store.migrate(schema);
  return store;
}

type Parts = typeof postgresDirectory & typeof postgresSessions & typeof postgresDelivery & typeof postgresBlobs & typeof postgresAdmin & typeof postgresKt & typeof postgresMail;
// The adapter's methods live in postgres/, one file per area, on this class's prototype (one type, its impl spread over
// files by concern). Its members are not private: the area files use them.
export interface PostgresStore extends Parts {}

export class PostgresStore implements ServerStore {
  constructor(readonly pool: pg.Pool) {}

  async migrate(schema: string): Promise<void> {
    await this.tx(async (db) => {
      // One node migrates at a time.
      await db.query('SELECT pg_advisory_xact_lock(7361626)');
      await db.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await db.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const applied = new Set((await db.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => r.version as number));
      for (const m of postgresMigrations) {
        if (applied.has(m.version)) continue;
        await db.query(m.sql);
        await db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Whether the database answers (for /readyz). */
  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      const out = await fn(db);
      await db.query('COMMIT');
      return out;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }

  async one(sql: string, params: unknown[] = [], db?: Db): Promise<Row | undefined> {
    return (await (db ?? this.pool).query(sql, params)).rows[0] as Row | undefined;
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.one('SELECT value FROM meta WHERE key = $1', [key]))?.value as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  /** Appends and acks waiting for the next batched statement (postgres/delivery.ts). */
  pendingAppends: { input: AppendInput; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }[] = [];
  pendingAcks: { device: DeviceId; seqs: number[]; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];

}

Object.assign(PostgresStore.prototype, postgresDirectory, postgresSessions, postgresDelivery, postgresBlobs, postgresAdmin, postgresKt, postgresMail);
