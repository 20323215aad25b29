// The PostgreSQL store's key-transparency log: records waiting for an epoch, epochs and their updates, indexes computed ahead.
import { type UserId } from '@sealpost/protocol';
import { ktEpochFromRow, ktPendingFromRow, ktUpdateFromRow, u8, type Row } from '../rows.js';
import type { KtEpochRecord, KtPending, KtNextIndex, KtUpdateRecord } from '../store.js';
import { buf } from './db.js';
import type { PostgresInternals } from './internals.js';

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresKt = {
  // ---- key transparency ----------------------------------------------------------------------------------
  async ktPending(this: PostgresInternals, limit: number, user?: UserId): Promise<KtPending[]> {
    const latest = (col: string) => `(SELECT h.${col} FROM legal_holds h WHERE h."user" = p."user" ORDER BY h.at DESC, h.released DESC LIMIT 1)`;
    const select = `SELECT p."user", p.seq, l.account_key, l.version, l.body, ${latest('body')} AS hold_body, ${latest('signature')} AS hold_signature FROM kt_pending p LEFT JOIN device_lists l ON l."user" = p."user"`;
    const rows = (
      user ? await this.pool.query(`${select} WHERE p."user" = $1`, [user]) : await this.pool.query(`${select} ORDER BY p."user" LIMIT $1`, [limit])
    ).rows as Row[];
    return rows.map(ktPendingFromRow);
  },

  async ktPublish(this: PostgresInternals, epoch: KtEpochRecord, updates: KtUpdateRecord[], done: { user: UserId; seq: number }[]): Promise<boolean> {
    return this.tx(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock(7361628)');
      if (await this.one('SELECT 1 FROM kt_epochs WHERE epoch = $1', [epoch.epoch], db)) return false;
      await db.query('INSERT INTO kt_epochs (epoch, timestamp, prefix_root, log_root, signature) VALUES ($1, $2, $3, $4, $5)', [
        epoch.epoch, epoch.timestamp, buf(epoch.prefixRoot), buf(epoch.logRoot), buf(epoch.signature),
      ]);
      for (const u of updates) {
        await db.query('INSERT INTO kt_updates (epoch, label, version, value, opening, vrf_index) VALUES ($1, $2, $3, $4, $5, $6)', [
          epoch.epoch, u.label, u.version, buf(u.value), buf(u.opening), buf(u.index),
        ]);
      }
      for (const d of done) await db.query('DELETE FROM kt_pending WHERE "user" = $1 AND seq = $2', [d.user, d.seq]);
      return true;
    });
  },

  async ktEpochs(this: PostgresInternals, afterEpoch: number, limit: number): Promise<(KtEpochRecord & { updates: KtUpdateRecord[] })[]> {
    const epochs = (await this.pool.query('SELECT * FROM kt_epochs WHERE epoch > $1 ORDER BY epoch LIMIT $2', [afterEpoch, limit])).rows as Row[];
    if (epochs.length === 0) return [];
    const ups = (await this.pool.query('SELECT * FROM kt_updates WHERE epoch = ANY($1::bigint[]) ORDER BY epoch, label, version', [epochs.map((e) => e.epoch)])).rows as Row[];
    return epochs.map((e) => ({ ...ktEpochFromRow(e), updates: ups.filter((u) => u.epoch === e.epoch).map(ktUpdateFromRow) }));
  },

  async ktPutNextIndexes(this: PostgresInternals, rows: KtNextIndex[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1000) {
      const part = rows.slice(i, i + 1000);
      await this.pool.query(
        `INSERT INTO kt_next_index (label, version, vrf_index) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
         ON CONFLICT (label) DO UPDATE SET version = excluded.version, vrf_index = excluded.vrf_index WHERE excluded.version > kt_next_index.version`,
        [part.map((r) => r.label), part.map((r) => r.version), part.map((r) => Buffer.from(r.index))],
      );
    }
  },

  async ktNextIndexes(this: PostgresInternals, labels: string[]): Promise<KtNextIndex[]> {
    const out: KtNextIndex[] = [];
    for (let i = 0; i < labels.length; i += 1000) {
      const rows = (await this.pool.query('SELECT label, version, vrf_index FROM kt_next_index WHERE label = ANY($1::text[])', [labels.slice(i, i + 1000)])).rows as Row[];
      for (const r of rows) out.push({ label: r.label as string, version: r.version as number, index: u8(r.vrf_index) });
    }
    return out;
  },

  async ktVersions(this: PostgresInternals, label: string, fromVersion: number, limit: number): Promise<KtUpdateRecord[]> {
    const rows = (await this.pool.query('SELECT * FROM kt_updates WHERE label = $1 AND version >= $2 ORDER BY version LIMIT $3', [label, fromVersion, limit])).rows as Row[];
    return rows.map(ktUpdateFromRow);
  },
};
