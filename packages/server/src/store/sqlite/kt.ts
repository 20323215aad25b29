// The SQLite store's key-transparency log: records waiting for an epoch, epochs and their updates, indexes computed ahead.
import { type UserId } from '@sealpost/protocol';
import { ktEpochFromRow, ktPendingFromRow, ktUpdateFromRow, u8, type Row } from '../rows.js';
import type { KtEpochRecord, KtPending, KtNextIndex, KtUpdateRecord } from '../store.js';
import type { SqliteInternals } from './internals.js';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteKt = {
  // ---- key transparency ----------------------------------------------------------------------------------
  async ktPending(this: SqliteInternals, limit: number, user?: UserId): Promise<KtPending[]> {
    const rows = (
      user
        ? this.stmt('SELECT p.user, p.seq, l.account_key, l.version, l.body, (SELECT h.body FROM legal_holds h WHERE h.user = p.user ORDER BY h.at DESC, h.released DESC LIMIT 1) AS hold_body, (SELECT h.signature FROM legal_holds h WHERE h.user = p.user ORDER BY h.at DESC, h.released DESC LIMIT 1) AS hold_signature FROM kt_pending p LEFT JOIN device_lists l ON l.user = p.user WHERE p.user = ?').all(user)
        : this.stmt('SELECT p.user, p.seq, l.account_key, l.version, l.body, (SELECT h.body FROM legal_holds h WHERE h.user = p.user ORDER BY h.at DESC, h.released DESC LIMIT 1) AS hold_body, (SELECT h.signature FROM legal_holds h WHERE h.user = p.user ORDER BY h.at DESC, h.released DESC LIMIT 1) AS hold_signature FROM kt_pending p LEFT JOIN device_lists l ON l.user = p.user ORDER BY p.user LIMIT ?').all(limit)
    ) as Row[];
    return rows.map(ktPendingFromRow);
  },

  async ktPublish(this: SqliteInternals, epoch: KtEpochRecord, updates: KtUpdateRecord[], done: { user: UserId; seq: number }[]): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.stmt('SELECT 1 FROM kt_epochs WHERE epoch = ?').get(epoch.epoch)) return false;
      this.stmt('INSERT INTO kt_epochs (epoch, timestamp, prefix_root, log_root, signature) VALUES (?, ?, ?, ?, ?)').run(
        epoch.epoch, epoch.timestamp, epoch.prefixRoot, epoch.logRoot, epoch.signature);
      const ins = this.stmt('INSERT INTO kt_updates (epoch, label, version, value, opening, vrf_index) VALUES (?, ?, ?, ?, ?, ?)');
      for (const u of updates) ins.run(epoch.epoch, u.label, u.version, u.value, u.opening, u.index);
      const del = this.stmt('DELETE FROM kt_pending WHERE user = ? AND seq = ?');
      for (const d of done) del.run(d.user, d.seq);
      return true;
    })();
  },

  async ktEpochs(this: SqliteInternals, afterEpoch: number, limit: number): Promise<(KtEpochRecord & { updates: KtUpdateRecord[] })[]> {
    const epochs = this.stmt('SELECT * FROM kt_epochs WHERE epoch > ? ORDER BY epoch LIMIT ?').all(afterEpoch, limit) as Row[];
    const ups = this.stmt('SELECT * FROM kt_updates WHERE epoch = ? ORDER BY label, version');
    return epochs.map((e) => ({ ...ktEpochFromRow(e), updates: (ups.all(e.epoch) as Row[]).map(ktUpdateFromRow) }));
  },

  async ktPutNextIndexes(this: SqliteInternals, rows: KtNextIndex[]): Promise<void> {
    const put = this.stmt(
      'INSERT INTO kt_next_index (label, version, vrf_index) VALUES (?, ?, ?) ON CONFLICT(label) DO UPDATE SET version = excluded.version, vrf_index = excluded.vrf_index WHERE excluded.version > kt_next_index.version',
    );
    this.db.transaction(() => {
      for (const r of rows) put.run(r.label, r.version, r.index);
    })();
  },

  async ktNextIndexes(this: SqliteInternals, labels: string[]): Promise<KtNextIndex[]> {
    const get = this.stmt('SELECT label, version, vrf_index FROM kt_next_index WHERE label = ?');
    return labels.flatMap((l) => (get.all(l) as Row[]).map((r) => ({ label: r.label as string, version: r.version as number, index: u8(r.vrf_index) })));
  },

  async ktVersions(this: SqliteInternals, label: string, fromVersion: number, limit: number): Promise<KtUpdateRecord[]> {
    const rows = this.stmt('SELECT * FROM kt_updates WHERE label = ? AND version >= ? ORDER BY version LIMIT ?').all(label, fromVersion, limit) as Row[];
    return rows.map(ktUpdateFromRow);
  },
};
