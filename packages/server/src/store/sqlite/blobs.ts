// The SQLite store's records of encrypted files: uploads, grants, quotas, stale uploads.
import { type BlobId, type DeviceId, type UserId } from '@sealpost/protocol';
import { blobFromRow, type Row } from '../rows.js';
import type { BlobRecord } from '../store.js';
import type { SqliteInternals } from './internals.js';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteBlobs = {
  async createBlob(this: SqliteInternals, blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'> {
    return this.db.transaction((): 'ok' | 'quota' => {
      const used = (this.stmt('SELECT COALESCE(SUM(size), 0) AS n FROM blobs b WHERE b.owner_user = ? AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)').get(blob.ownerUser) as Row).n as number;
      if (used + blob.size > quotaBytes) return 'quota';
      this.stmt('INSERT INTO blobs (id, owner_user, owner_device, size, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(blob.id, blob.ownerUser, blob.ownerDevice, blob.size, blob.now);
      this.stmt('INSERT INTO blob_grants (blob, device) VALUES (?, ?)').run(blob.id, blob.ownerDevice);
      return 'ok';
    })();
  },

  async getBlob(this: SqliteInternals, id: BlobId): Promise<BlobRecord | undefined> {
    const r = this.stmt('SELECT * FROM blobs WHERE id = ?').get(id) as Row | undefined;
    if (!r) return undefined;
    return blobFromRow(r);
  },

  async setBlobReceived(this: SqliteInternals, id: BlobId, received: number, complete: boolean, now: number): Promise<void> {
    this.stmt('UPDATE blobs SET received = ?, complete = ?, completed_at = ? WHERE id = ?').run(received, complete ? 1 : 0, complete ? now : null, id);
  },

  async hasBlobGrant(this: SqliteInternals, id: BlobId, device: DeviceId): Promise<boolean> {
    return this.stmt('SELECT 1 FROM blob_grants WHERE blob = ? AND device = ?').get(id, device) !== undefined;
  },

  async releaseBlobGrant(this: SqliteInternals, id: BlobId, device: DeviceId): Promise<boolean> {
    return this.db.transaction(() => {
      this.stmt('DELETE FROM blob_grants WHERE blob = ? AND device = ?').run(id, device);
      if (this.stmt('SELECT 1 FROM blob_grants WHERE blob = ?').get(id)) return false;
      return this.stmt('DELETE FROM blobs WHERE id = ?').run(id).changes === 1;
    })();
  },

  async blobBytesOf(this: SqliteInternals, user: UserId): Promise<number> {
    return (this.stmt('SELECT COALESCE(SUM(size), 0) AS n FROM blobs b WHERE b.owner_user = ? AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)').get(user) as Row).n as number;
  },

  async deleteStaleUploads(this: SqliteInternals, before: number): Promise<BlobId[]> {
    return this.db.transaction(() => {
      const ids = (this.stmt('SELECT id FROM blobs WHERE complete = 0 AND created_at < ?').all(before) as Row[]).map((r) => r.id as BlobId);
      const del = this.stmt('DELETE FROM blobs WHERE id = ?');
      for (const id of ids) del.run(id);
      return ids;
    })();
  },
};
