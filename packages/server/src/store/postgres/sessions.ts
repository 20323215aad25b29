// The PostgreSQL store's sign-in challenges and sessions, and which node holds each device's connection (presence).
import { type DeviceId, type UserId } from '@sealpost/protocol';
import { buf } from './db.js';
import type { PostgresInternals } from './internals.js';

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresSessions = {
  async putChallenge(this: PostgresInternals, device: DeviceId, challenge: Uint8Array, expiresAt: number): Promise<void> {
    await this.tx(async (db) => {
      await db.query('DELETE FROM auth_challenges WHERE expires_at <= $1', [Date.now()]);
      await db.query(
        `DELETE FROM auth_challenges WHERE device = $1 AND challenge IN
           (SELECT challenge FROM auth_challenges WHERE device = $1 ORDER BY expires_at DESC OFFSET 15)`,
        [device],
      );
      await db.query('INSERT INTO auth_challenges (device, challenge, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [device, buf(challenge), expiresAt]);
    });
  },

  async takeChallenge(this: PostgresInternals, device: DeviceId, challenge: Uint8Array, now: number): Promise<boolean> {
    const res = await this.pool.query('DELETE FROM auth_challenges WHERE device = $1 AND challenge = $2 AND expires_at > $3', [device, buf(challenge), now]);
    return res.rowCount === 1;
  },

  async createSession(this: PostgresInternals, tokenHash: Uint8Array, device: DeviceId, expiresAt: number): Promise<void> {
    await this.tx(async (db) => {
      await db.query('DELETE FROM sessions WHERE expires_at <= $1', [Date.now()]);
      await db.query('INSERT INTO sessions (token_hash, device, expires_at) VALUES ($1, $2, $3)', [buf(tokenHash), device, expiresAt]);
    });
  },

  async getSession(this: PostgresInternals, tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId; expiresAt: number } | undefined> {
    const r = await this.one(
      `SELECT s.device, d."user", s.expires_at FROM sessions s JOIN devices d ON d.id = s.device JOIN users u ON u."user" = d."user"
       WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.status = 'active' AND d.revoked_at IS NULL`,
      [buf(tokenHash), now],
    );
    return r ? { device: r.device as DeviceId, user: r.user as UserId, expiresAt: Number(r.expires_at) } : undefined;
  },

  async addPresence(this: PostgresInternals, device: DeviceId, node: string, now: number): Promise<void> {
    await this.pool.query('INSERT INTO device_presence (device, node, since) VALUES ($1, $2, $3) ON CONFLICT (device, node) DO UPDATE SET since = excluded.since', [
      device,
      node,
      now,
    ]);
  },

  async removePresence(this: PostgresInternals, device: DeviceId, node: string): Promise<void> {
    await this.pool.query('DELETE FROM device_presence WHERE device = $1 AND node = $2', [device, node]);
  },

  async presenceOf(this: PostgresInternals, devices: DeviceId[]): Promise<{ device: DeviceId; node: string }[]> {
    if (devices.length === 0) return [];
    return (await this.pool.query('SELECT device, node FROM device_presence WHERE device = ANY($1::text[])', [devices])).rows as { device: DeviceId; node: string }[];
  },

  async clearPresence(this: PostgresInternals, node: string): Promise<void> {
    await this.pool.query('DELETE FROM device_presence WHERE node = $1', [node]);
  },
};
