// The PostgreSQL store's records of encrypted files: uploads, grants, quotas, stale uploads.
import { type BlobId, type DeviceId, type UserId } from '@sealpost/protocol';
import { blobFromRow, type Row } from '../rows.js';
import type { BlobRecord } from '../store.js';
import type { PostgresInternals } from './internals.js';

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresBlobs = {
  async createBlob(this: PostgresInternals, blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'> {
    return this.tx(async (db): Promise<'ok' | 'quota'> => {
      // Serialise a user's uploads so two nodes cannot both pass the quota check.
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [blob.ownerUser]);
      const used = ((await this.one('SELECT COALESCE(SUM(size), 0)::bigint AS n FROM blobs b WHERE b.owner_user = $1 AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)', [blob.ownerUser], db))!.n as number) ?? 0;
      if (used + blob.size > quotaBytes) return 'quota';
      await db.query('INSERT INTO blobs (id, owner_user, owner_device, size, created_at) VALUES ($1, $2, $3, $4, $5)', [blob.id, blob.ownerUser, blob.ownerDevice, blob.size, blob.now]);
      await db.query('INSERT INTO blob_grants (blob, device) VALUES ($1, $2)', [blob.id, blob.ownerDevice]);
      return 'ok';
    });
  },

  async getBlob(this: PostgresInternals, id: BlobId): Promise<BlobRecord | undefined> {
    const r = await this.one('SELECT * FROM blobs WHERE id = $1', [id]);
    if (!r) return undefined;
    return blobFromRow(r);
  },

  async setBlobReceived(this: PostgresInternals, id: BlobId, received: number, complete: boolean, now: number): Promise<void> {
    await this.pool.query('UPDATE blobs SET received = $1, complete = $2, completed_at = $3 WHERE id = $4', [received, complete, complete ? now : null, id]);
  },

  async hasBlobGrant(this: PostgresInternals, id: BlobId, device: DeviceId): Promise<boolean> {
    return (await this.one('SELECT 1 FROM blob_grants WHERE blob = $1 AND device = $2', [id, device])) !== undefined;
  },

  async releaseBlobGrant(this: PostgresInternals, id: BlobId, device: DeviceId): Promise<boolean> {
    return this.tx(async (db) => {
      await db.query('SELECT id FROM blobs WHERE id = $1 FOR UPDATE', [id]);
      await db.query('DELETE FROM blob_grants WHERE blob = $1 AND device = $2', [id, device]);
      if (await this.one('SELECT 1 FROM blob_grants WHERE blob = $1', [id], db)) return false;
      return (await db.query('DELETE FROM blobs WHERE id = $1', [id])).rowCount === 1;
    });
  },

  async blobBytesOf(this: PostgresInternals, user: UserId): Promise<number> {
    return ((await this.one('SELECT COALESCE(SUM(size), 0)::bigint AS n FROM blobs b WHERE b.owner_user = $1 AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)', [user]))!.n as number) ?? 0;
  },

  async deleteStaleUploads(this: PostgresInternals, before: number): Promise<BlobId[]> {
    return (await this.pool.query('DELETE FROM blobs WHERE NOT complete AND created_at < $1 RETURNING id', [before])).rows.map((r: Row) => r.id as BlobId);
  },
};
