// The SQLite store's sign-in challenges and sessions, and which node holds each device's connection (presence).
import { type DeviceId, type UserId } from '@sealpost/protocol';
import { type Row } from '../rows.js';
import type { SqliteInternals } from './internals.js';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteSessions = {
  async putChallenge(this: SqliteInternals, device: DeviceId, challenge: Uint8Array, expiresAt: number): Promise<void> {
    this.db.transaction(() => {
      // Expired challenges are swept here, so the table cannot grow without bound.
      this.stmt('DELETE FROM auth_challenges WHERE expires_at <= ?').run(Date.now());
      const n = (this.stmt('SELECT COUNT(*) AS n FROM auth_challenges WHERE device = ?').get(device) as Row).n as number;
      if (n >= 16) this.stmt('DELETE FROM auth_challenges WHERE rowid IN (SELECT rowid FROM auth_challenges WHERE device = ? ORDER BY expires_at LIMIT ?)').run(device, n - 15);
      this.stmt('INSERT OR REPLACE INTO auth_challenges (device, challenge, expires_at) VALUES (?, ?, ?)').run(device, challenge, expiresAt);
    })();
  },

  async takeChallenge(this: SqliteInternals, device: DeviceId, challenge: Uint8Array, now: number): Promise<boolean> {
    const res = this.stmt('DELETE FROM auth_challenges WHERE device = ? AND challenge = ? AND expires_at > ?').run(device, challenge, now);
    return res.changes === 1;
  },

  async createSession(this: SqliteInternals, tokenHash: Uint8Array, device: DeviceId, expiresAt: number): Promise<void> {
    this.db.transaction(() => {
      this.stmt('DELETE FROM sessions WHERE expires_at <= ?').run(Date.now());
      this.stmt('INSERT INTO sessions (token_hash, device, expires_at) VALUES (?, ?, ?)').run(tokenHash, device, expiresAt);
    })();
  },

  async getSession(this: SqliteInternals, tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId; expiresAt: number } | undefined> {
    const r = this.stmt(
        `SELECT s.device, d.user, s.expires_at FROM sessions s JOIN devices d ON d.id = s.device JOIN users u ON u.user = d.user
         WHERE s.token_hash = ? AND s.expires_at > ? AND u.status = 'active' AND d.revoked_at IS NULL`,
      )
      .get(tokenHash, now) as Row | undefined;
    return r ? { device: r.device as DeviceId, user: r.user as UserId, expiresAt: Number(r.expires_at) } : undefined;
  },

  async addPresence(this: SqliteInternals, device: DeviceId, node: string, now: number): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO device_presence (device, node, since) VALUES (?, ?, ?)').run(device, node, now);
  },

  async removePresence(this: SqliteInternals, device: DeviceId, node: string): Promise<void> {
    this.stmt('DELETE FROM device_presence WHERE device = ? AND node = ?').run(device, node);
  },

  async presenceOf(this: SqliteInternals, devices: DeviceId[]): Promise<{ device: DeviceId; node: string }[]> {
    const q = this.stmt('SELECT device, node FROM device_presence WHERE device = ?');
    return devices.flatMap((d) => q.all(d) as { device: DeviceId; node: string }[]);
  },

  async clearPresence(this: SqliteInternals, node: string): Promise<void> {
    this.stmt('DELETE FROM device_presence WHERE node = ?').run(node);
  },
};
