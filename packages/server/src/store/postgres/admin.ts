// The PostgreSQL store's administration: wipe commands, admin tokens, the audit log, lookups and retention.
import {
  auditEntryHash,
  AUDIT_GENESIS,
  type AuditEntry,
  type AuditFields,
  type BlobId,
  type ConversationId,
  type DeviceId,
  type UserId,
} from '@sealpost/protocol';
import { auditFromRow, holdFromRow, scimFromRow, scopesOf, type Row, u8, userLookupFromRows } from '../rows.js';
import type { AdminScope, AdminTokenRecord, HoldStatement, ScimRecord, UserLookup, WipeRecord } from '../store.js';
import { buf } from './db.js';
import type { PostgresInternals } from './internals.js';

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresAdmin = {
  async putHoldStatement(this: PostgresInternals, h: HoldStatement): Promise<boolean> {
    return this.tx(async (db) => {
      const res = await db.query(
        'INSERT INTO legal_holds (hold_id, "user", released, body, signature, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hold_id, released) DO NOTHING',
        [h.holdId, h.user, h.released, buf(h.body), buf(h.signature), h.at],
      );
      if (res.rowCount !== 1) return false;
      await this.markKtPending(db, h.user);
      return true;
    });
  },

  async scimGet(this: PostgresInternals, type: ScimRecord['type'], id: string): Promise<ScimRecord | undefined> {
    const r = await this.one('SELECT * FROM scim_resources WHERE type = $1 AND id = $2', [type, id]);
    return r ? scimFromRow(r) : undefined;
  },

  async scimList(this: PostgresInternals, type: ScimRecord['type']): Promise<ScimRecord[]> {
    return ((await this.pool.query('SELECT * FROM scim_resources WHERE type = $1 ORDER BY id', [type])).rows as Row[]).map(scimFromRow);
  },

  async scimPut(this: PostgresInternals, r: ScimRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO scim_resources (type, id, external_id, data, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (type, id) DO UPDATE SET external_id = excluded.external_id, data = excluded.data, created_at = excluded.created_at, updated_at = excluded.updated_at, version = excluded.version`,
      [r.type, r.id, r.externalId, r.data, r.createdAt, r.updatedAt, r.version],
    );
  },

  async scimDelete(this: PostgresInternals, type: ScimRecord['type'], id: string): Promise<void> {
    await this.pool.query('DELETE FROM scim_resources WHERE type = $1 AND id = $2', [type, id]);
  },

  async holdStatements(this: PostgresInternals, user?: UserId): Promise<HoldStatement[]> {
    const rows = user
      ? (await this.pool.query('SELECT * FROM legal_holds WHERE "user" = $1 ORDER BY at, released', [user])).rows
      : (await this.pool.query('SELECT * FROM legal_holds ORDER BY at, released')).rows;
    return (rows as Row[]).map(holdFromRow);
  },

  async putWipe(this: PostgresInternals, w: WipeRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO wipes (device, command, signature, issued_at, confirmed_at) VALUES ($1, $2, $3, $4, NULL)
       ON CONFLICT (device) DO UPDATE SET command = excluded.command, signature = excluded.signature, issued_at = excluded.issued_at, confirmed_at = NULL`,
      [w.device, buf(w.command), buf(w.signature), w.issuedAt],
    );
  },

  async getWipe(this: PostgresInternals, device: DeviceId): Promise<WipeRecord | undefined> {
    const r = await this.one('SELECT * FROM wipes WHERE device = $1', [device]);
    if (!r) return undefined;
    return { device, command: u8(r.command), signature: u8(r.signature), issuedAt: r.issued_at as number, confirmedAt: (r.confirmed_at as number | null) ?? undefined };
  },

  async confirmWipe(this: PostgresInternals, device: DeviceId, now: number): Promise<void> {
    await this.pool.query('UPDATE wipes SET confirmed_at = COALESCE(confirmed_at, $1) WHERE device = $2', [now, device]);
  },

  async addAdminToken(this: PostgresInternals, name: string, tokenHash: Uint8Array, now: number, scopes: AdminScope[]): Promise<boolean> {
    const res = await this.pool.query('INSERT INTO admin_tokens (name, token_hash, created_at, scopes) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [name, buf(tokenHash), now, scopes.join(',')]);
    return res.rowCount === 1;
  },

  async findAdminToken(this: PostgresInternals, tokenHash: Uint8Array): Promise<{ name: string; scopes: AdminScope[] } | undefined> {
    const r = await this.one('SELECT name, scopes FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL', [buf(tokenHash)]);
    return r ? { name: r.name as string, scopes: scopesOf(r.scopes) } : undefined;
  },

  async listAdminTokens(this: PostgresInternals): Promise<AdminTokenRecord[]> {
    return (await this.pool.query('SELECT * FROM admin_tokens ORDER BY created_at, name')).rows.map((r: Row) => ({
      name: r.name as string,
      scopes: scopesOf(r.scopes),
      createdAt: r.created_at as number,
      revokedAt: (r.revoked_at as number | null) ?? undefined,
    }));
  },

  async revokeAdminToken(this: PostgresInternals, name: string, now: number): Promise<boolean> {
    return (await this.pool.query('UPDATE admin_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [now, name])).rowCount === 1;
  },

  async appendAudit(this: PostgresInternals, entry: Omit<AuditFields, 'seq'>): Promise<AuditEntry> {
    return this.tx(async (db) => {
      // One writer at a time across nodes, so the chain never forks.
      await db.query('SELECT pg_advisory_xact_lock(7361627)');
      const last = await this.one('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1', [], db);
      const seq = last ? (last.seq as number) + 1 : 1;
      const prevHash = last ? u8(last.hash) : AUDIT_GENESIS;
      const fields: AuditFields = { ...entry, seq };
      const hash = auditEntryHash(prevHash, fields);
      await db.query('INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
        seq, entry.at, entry.actor, entry.action, entry.target, JSON.stringify(entry.details), buf(prevHash), buf(hash),
      ]);
      return { ...fields, prevHash, hash };
    });
  },

  async listAudit(this: PostgresInternals, afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return (await this.pool.query('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit])).rows.map(auditFromRow);
  },

  async lookupUser(this: PostgresInternals, user: UserId): Promise<UserLookup> {
    const convs = (
      await this.pool.query(
        `SELECT c.id, c.epoch,
           (SELECT COUNT(*)::int FROM conversation_members m2 WHERE m2.conversation = c.id) AS member_devices,
           (SELECT COUNT(*)::int FROM messages m WHERE m.conversation = c.id) AS stored_messages,
           (SELECT COALESCE(SUM(LENGTH(m.payload)), 0)::bigint FROM messages m WHERE m.conversation = c.id) AS stored_bytes
         FROM conversations c
         WHERE c.id IN (SELECT cm.conversation FROM conversation_members cm JOIN devices d ON d.id = cm.device WHERE d."user" = $1)
         ORDER BY c.created_at`,
        [user],
      )
    ).rows as Row[];
    const queued = (await this.one(
      `SELECT COUNT(*)::int AS n, COALESCE(SUM(LENGTH(m.payload)), 0)::bigint AS bytes FROM queue q JOIN messages m ON m.id = q.message
       JOIN devices d ON d.id = q.device WHERE d."user" = $1`,
      [user],
    ))!;
    const blobs = (await this.one('SELECT COUNT(*)::int AS n, COALESCE(SUM(size), 0)::bigint AS bytes FROM blobs WHERE owner_user = $1', [user]))!;
    const code = await this.one('SELECT expires_at, used_at, attempts FROM activation_codes WHERE "user" = $1', [user]);
    const list = await this.one('SELECT version FROM device_lists WHERE "user" = $1', [user]);
    return userLookupFromRows(convs, queued, blobs, code, list);
  },

  async deleteOlderThan(this: PostgresInternals, before: number): Promise<{ messages: number; blobs: BlobId[] }> {
    return this.tx(async (db) => {
      // Handshake messages (commits, Welcomes) are kept: a device that misses one could never catch up.
      await db.query("DELETE FROM queue WHERE message IN (SELECT id FROM messages WHERE created_at < $1 AND kind = 'app')", [before]);
      const messages = (await db.query("DELETE FROM messages WHERE created_at < $1 AND kind = 'app'", [before])).rowCount ?? 0;
      const blobs = (await db.query('DELETE FROM blobs WHERE complete AND completed_at < $1 RETURNING id', [before])).rows.map((r: Row) => r.id as BlobId);
      return { messages, blobs };
    });
  },
};
