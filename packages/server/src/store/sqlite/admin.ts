// The SQLite store's administration: wipe commands, admin tokens, the audit log, lookups and retention.
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
import { auditFromRow, holdFromRow, scimFromRow, type Row, u8, userLookupFromRows } from '../rows.js';
import { scopesOf } from '../rows.js';
import type { AdminScope, AdminTokenRecord, HoldStatement, ScimRecord, UserLookup, WipeRecord } from '../store.js';
import type { SqliteInternals } from './internals.js';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteAdmin = {
  async putHoldStatement(this: SqliteInternals, h: HoldStatement): Promise<boolean> {
    return this.db.transaction(() => {
      const added = this.stmt('INSERT OR IGNORE INTO legal_holds (hold_id, user, released, body, signature, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(h.holdId, h.user, h.released ? 1 : 0, h.body, h.signature, h.at).changes === 1;
      if (added) this.markKtPending(h.user);
      return added;
    })();
  },

  async scimGet(this: SqliteInternals, type: ScimRecord['type'], id: string): Promise<ScimRecord | undefined> {
    const r = this.stmt('SELECT * FROM scim_resources WHERE type = ? AND id = ?').get(type, id) as Row | undefined;
    return r ? scimFromRow(r) : undefined;
  },

  async scimList(this: SqliteInternals, type: ScimRecord['type']): Promise<ScimRecord[]> {
    return (this.stmt('SELECT * FROM scim_resources WHERE type = ? ORDER BY id').all(type) as Row[]).map(scimFromRow);
  },

  async scimPut(this: SqliteInternals, r: ScimRecord): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO scim_resources (type, id, external_id, data, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(r.type, r.id, r.externalId, r.data, r.createdAt, r.updatedAt, r.version);
  },

  async scimDelete(this: SqliteInternals, type: ScimRecord['type'], id: string): Promise<void> {
    this.stmt('DELETE FROM scim_resources WHERE type = ? AND id = ?').run(type, id);
  },

  async holdStatements(this: SqliteInternals, user?: UserId): Promise<HoldStatement[]> {
    const rows = user
      ? this.stmt('SELECT * FROM legal_holds WHERE user = ? ORDER BY at, released').all(user)
      : this.stmt('SELECT * FROM legal_holds ORDER BY at, released').all();
    return (rows as Row[]).map(holdFromRow);
  },

  async putWipe(this: SqliteInternals, w: WipeRecord): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO wipes (device, command, signature, issued_at, confirmed_at) VALUES (?, ?, ?, ?, NULL)').run(w.device, w.command, w.signature, w.issuedAt);
  },

  async getWipe(this: SqliteInternals, device: DeviceId): Promise<WipeRecord | undefined> {
    const r = this.stmt('SELECT * FROM wipes WHERE device = ?').get(device) as Row | undefined;
    if (!r) return undefined;
    return { device, command: u8(r.command), signature: u8(r.signature), issuedAt: r.issued_at as number, confirmedAt: (r.confirmed_at as number | null) ?? undefined };
  },

  async confirmWipe(this: SqliteInternals, device: DeviceId, now: number): Promise<void> {
    this.stmt('UPDATE wipes SET confirmed_at = COALESCE(confirmed_at, ?) WHERE device = ?').run(now, device);
  },

  async addAdminToken(this: SqliteInternals, name: string, tokenHash: Uint8Array, now: number, scopes: AdminScope[]): Promise<boolean> {
    return this.stmt('INSERT OR IGNORE INTO admin_tokens (name, token_hash, created_at, scopes) VALUES (?, ?, ?, ?)').run(name, tokenHash, now, scopes.join(',')).changes === 1;
  },

  async findAdminToken(this: SqliteInternals, tokenHash: Uint8Array): Promise<{ name: string; scopes: AdminScope[] } | undefined> {
    const r = this.stmt('SELECT name, scopes FROM admin_tokens WHERE token_hash = ? AND revoked_at IS NULL').get(tokenHash) as Row | undefined;
    return r ? { name: r.name as string, scopes: scopesOf(r.scopes) } : undefined;
  },

  async listAdminTokens(this: SqliteInternals): Promise<AdminTokenRecord[]> {
    return (this.stmt('SELECT * FROM admin_tokens ORDER BY created_at, name').all() as Row[]).map((r) => ({
      name: r.name as string,
      scopes: scopesOf(r.scopes),
      createdAt: r.created_at as number,
      revokedAt: (r.revoked_at as number | null) ?? undefined,
    }));
  },

  async revokeAdminToken(this: SqliteInternals, name: string, now: number): Promise<boolean> {
    return this.stmt('UPDATE admin_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(now, name).changes === 1;
  },

  async appendAudit(this: SqliteInternals, entry: Omit<AuditFields, 'seq'>): Promise<AuditEntry> {
    return this.db.transaction((): AuditEntry => {
      const last = this.stmt('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
      const seq = last ? (last.seq as number) + 1 : 1;
      const prevHash = last ? u8(last.hash) : AUDIT_GENESIS;
      const fields: AuditFields = { ...entry, seq };
      const hash = auditEntryHash(prevHash, fields);
      this.stmt('INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        seq, entry.at, entry.actor, entry.action, entry.target, JSON.stringify(entry.details), prevHash, hash);
      return { ...fields, prevHash, hash };
    })();
  },

  async listAudit(this: SqliteInternals, afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return (this.stmt('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as Row[]).map(auditFromRow);
  },

  async lookupUser(this: SqliteInternals, user: UserId): Promise<UserLookup> {
    const convs = this.stmt(
      `SELECT c.id, c.epoch,
         (SELECT COUNT(*) FROM conversation_members m2 WHERE m2.conversation = c.id) AS member_devices,
         (SELECT COUNT(*) FROM messages m WHERE m.conversation = c.id) AS stored_messages,
         (SELECT COALESCE(SUM(LENGTH(m.payload)), 0) FROM messages m WHERE m.conversation = c.id) AS stored_bytes
       FROM conversations c
       WHERE c.id IN (SELECT cm.conversation FROM conversation_members cm JOIN devices d ON d.id = cm.device WHERE d.user = ?)
       ORDER BY c.created_at`,
    ).all(user) as Row[];
    const queued = this.stmt(
      `SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(m.payload)), 0) AS bytes FROM queue q JOIN messages m ON m.id = q.message
       JOIN devices d ON d.id = q.device WHERE d.user = ?`,
    ).get(user) as Row;
    const blobs = this.stmt('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs WHERE owner_user = ?').get(user) as Row;
    const code = this.stmt('SELECT expires_at, used_at, attempts FROM activation_codes WHERE user = ?').get(user) as Row | undefined;
    const list = this.stmt('SELECT version FROM device_lists WHERE user = ?').get(user) as Row | undefined;
    return userLookupFromRows(convs, queued, blobs, code, list);
  },

  async deleteOlderThan(this: SqliteInternals, before: number): Promise<{ messages: number; blobs: BlobId[] }> {
    return this.db.transaction(() => {
      // Handshake messages (commits, Welcomes) are kept: a device that misses one could never catch up.
      this.stmt("DELETE FROM queue WHERE message IN (SELECT id FROM messages WHERE created_at < ? AND kind = 'app')").run(before);
      const messages = this.stmt("DELETE FROM messages WHERE created_at < ? AND kind = 'app'").run(before).changes;
      const blobs = (this.stmt('SELECT id FROM blobs WHERE complete = 1 AND completed_at < ?').all(before) as Row[]).map((r) => r.id as BlobId);
      const del = this.stmt('DELETE FROM blobs WHERE id = ?');
      for (const id of blobs) del.run(id);
      return { messages, blobs };
    })();
  },
};
