// The PostgreSQL store's directory: users, activation, devices and their signed lists, KeyPackages, link requests,
// revocation and reset (each change of a device list queued for the key-transparency log in the same transaction).
import pg from 'pg';
import { timingSafeEqual } from 'node:crypto';
import { type ConversationId, type DeviceId, type SuiteName, type UserId } from '@sealpost/protocol';
import { encodeLinkKeyPackages } from '../link-key-packages.js';
import { deviceFromRow, linkFromRow, u8, userFromRow, type Row } from '../rows.js';
import type {
  LinkApproveVerdict,
  LinkRecord,
  Revocation,
  AppendInput,
  ClaimedKeyPackage,
  Delivery,
  DeviceRecord,
  EnrollInput,
  EnrollVerdict,
  NewKeyPackage,
  StoredDeviceList,
  UserRecord,
} from '../store.js';
import { buf, type Db } from './db.js';
import type { PostgresInternals } from './internals.js';

const userQuery = 'SELECT u.*, (SELECT COUNT(*)::int FROM devices d WHERE d."user" = u."user" AND d.revoked_at IS NULL) AS device_count FROM users u';

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresDirectory = {
  async createUser(this: PostgresInternals, user: { user: UserId; name: string | undefined; now: number }, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<boolean> {
    return this.tx(async (db) => {
      const res = await db.query('INSERT INTO users ("user", name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [user.user, user.name ?? null, user.now]);
      if (res.rowCount !== 1) return false;
      await db.query('INSERT INTO activation_codes ("user", code_hash, expires_at) VALUES ($1, $2, $3)', [user.user, buf(activation.codeHash), activation.expiresAt]);
      return true;
    });
  },

  async getUser(this: PostgresInternals, user: UserId): Promise<UserRecord | undefined> {
    const r = await this.one(`${userQuery} WHERE u."user" = $1`, [user]);
    return r ? userFromRow(r) : undefined;
  },

  async listUsers(this: PostgresInternals): Promise<UserRecord[]> {
    return (await this.pool.query(`${userQuery} ORDER BY u."user"`)).rows.map((r: Row) => userFromRow(r));
  },

  async activationCodeHash(this: PostgresInternals, user: UserId): Promise<Uint8Array | undefined> {
    const r = await this.one('SELECT code_hash FROM activation_codes WHERE "user" = $1 AND used_at IS NULL', [user]);
    return r ? u8(r.code_hash) : undefined;
  },

  async countWrongActivation(this: PostgresInternals, user: UserId): Promise<void> {
    await this.pool.query('UPDATE activation_codes SET attempts = attempts + 1 WHERE "user" = $1', [user]);
  },

  async enroll(this: PostgresInternals, input: EnrollInput): Promise<EnrollVerdict> {
    return this.tx(async (db): Promise<EnrollVerdict> => {
      const user = await this.one('SELECT status FROM users WHERE "user" = $1', [input.user], db);
      const code = await this.one('SELECT * FROM activation_codes WHERE "user" = $1 FOR UPDATE', [input.user], db);
      if (!user || !code || code.used_at !== null) return 'invalid';
      // The code first: whoever does not hold it learns nothing about the user or the code's state.
      const stored = u8(code.code_hash);
      if (stored.length !== input.codeHash.length || !timingSafeEqual(stored, input.codeHash)) {
        await db.query('UPDATE activation_codes SET attempts = attempts + 1 WHERE "user" = $1', [input.user]);
        return 'invalid';
      }
      if (user.status !== 'active') return 'user-disabled';
      if ((code.attempts as number) >= input.maxAttempts) return 'exhausted';
      if ((code.expires_at as number) <= input.now) return 'expired';
      if (await this.one('SELECT 1 FROM devices WHERE id = $1', [input.device.id], db)) return 'device-exists';
      await db.query('UPDATE activation_codes SET used_at = $1 WHERE "user" = $2', [input.now, input.user]);
      await db.query('INSERT INTO devices (id, "user", name, signature_key, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        input.device.id,
        input.user,
        input.device.name ?? null,
        buf(input.device.signatureKey),
        input.now,
        input.now,
      ]);
      const l = input.deviceList;
      await db.query(
        `INSERT INTO device_lists ("user", version, account_key, body, signature) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ("user") DO UPDATE SET version = excluded.version, account_key = excluded.account_key,
           body = excluded.body, signature = excluded.signature`,
        [input.user, l.version, buf(l.accountKey), buf(l.body), buf(l.signature)],
      );
      await this.recordListVersion(db, input.user, input.deviceList);
      await this.insertKeyPackages(db, input.device.id, input.keyPackages, input.lastResort);
      return 'ok';
    });
  },

  async insertKeyPackages(this: PostgresInternals, db: Db, device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): Promise<void> {
    for (const kp of kps) {
      await db.query('INSERT INTO key_packages (ref, device, data, last_resort, suite) VALUES ($1, $2, $3, FALSE, $4) ON CONFLICT DO NOTHING', [kp.ref, device, buf(kp.data), kp.suite ?? 'classic']);
    }
    if (lastResort) {
      await db.query('DELETE FROM key_packages WHERE device = $1 AND last_resort AND suite = $2', [device, lastResort.suite ?? 'classic']);
      await db.query('INSERT INTO key_packages (ref, device, data, last_resort, suite) VALUES ($1, $2, $3, TRUE, $4) ON CONFLICT DO NOTHING', [
        lastResort.ref,
        device,
        buf(lastResort.data),
        lastResort.suite ?? 'classic',
      ]);
    }
  },

  async getDevice(this: PostgresInternals, device: DeviceId): Promise<DeviceRecord | undefined> {
    const r = await this.one('SELECT * FROM devices WHERE id = $1', [device]);
    return r ? deviceFromRow(r) : undefined;
  },

  async listDevices(this: PostgresInternals, user: UserId): Promise<DeviceRecord[]> {
    return (await this.pool.query('SELECT * FROM devices WHERE "user" = $1 ORDER BY created_at', [user])).rows.map((r: Row) => deviceFromRow(r));
  },

  async touchDevice(this: PostgresInternals, device: DeviceId, now: number): Promise<void> {
    await this.pool.query('UPDATE devices SET last_seen_at = $1 WHERE id = $2', [now, device]);
  },

  async getDeviceList(this: PostgresInternals, user: UserId): Promise<StoredDeviceList | undefined> {
    const r = await this.one('SELECT * FROM device_lists WHERE "user" = $1', [user]);
    return r ? { version: r.version as number, accountKey: u8(r.account_key), body: u8(r.body), signature: u8(r.signature) } : undefined;
  },

  async addKeyPackages(this: PostgresInternals, device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined, max: number): Promise<number | undefined> {
    return this.tx(async (db) => {
      await db.query('SELECT id FROM devices WHERE id = $1 FOR UPDATE', [device]);
      const have = await this.countIn(db, device);
      if (have + kps.length > max) return undefined;
      await this.insertKeyPackages(db, device, kps, lastResort);
      return this.countIn(db, device);
    });
  },

  async countIn(this: PostgresInternals, db: Db | pg.Pool, device: DeviceId, suite?: SuiteName): Promise<number> {
    const q = suite
      ? db.query('SELECT COUNT(*)::int AS n FROM key_packages WHERE device = $1 AND NOT last_resort AND suite = $2', [device, suite])
      : db.query('SELECT COUNT(*)::int AS n FROM key_packages WHERE device = $1 AND NOT last_resort', [device]);
    return ((await q).rows[0] as Row).n as number;
  },

  async countKeyPackages(this: PostgresInternals, device: DeviceId, suite?: SuiteName): Promise<number> {
    return this.countIn(this.pool, device, suite);
  },

  async claimKeyPackages(
    this: PostgresInternals,
    users: UserId[],
    exclude: DeviceId[],
    lastResortOnly: ReadonlySet<DeviceId> = new Set(),
    suite: SuiteName = 'classic',
  ): Promise<ClaimedKeyPackage[]> {
    const skip = new Set<string>(exclude);
    return this.tx(async (db) => {
      const out: ClaimedKeyPackage[] = [];
      for (const user of users) {
        for (const d of (await db.query('SELECT id FROM devices WHERE "user" = $1 AND revoked_at IS NULL ORDER BY created_at', [user])).rows as Row[]) {
          const device = d.id as DeviceId;
          if (skip.has(device)) continue;
          // SKIP LOCKED: two nodes claiming at once never hand out the same one-time KeyPackage.
          const kp = await this.one(
            'SELECT ref, data, last_resort FROM key_packages WHERE device = $1 AND suite = $3 AND (last_resort OR NOT $2) ORDER BY last_resort, seq LIMIT 1 FOR UPDATE SKIP LOCKED',
            [device, lastResortOnly.has(device), suite],
            db,
          );
          if (kp && !kp.last_resort) await db.query('DELETE FROM key_packages WHERE ref = $1', [kp.ref]);
          out.push({ user, device, data: kp ? u8(kp.data) : undefined });
        }
      }
      return out;
    });
  },

  // ---- devices and administration -------------------------------------------------------------------------
  async recordListVersion(this: PostgresInternals, db: Db, user: UserId, list: StoredDeviceList): Promise<void> {
    await db.query(
      `INSERT INTO device_list_versions ("user", version, body, signature) VALUES ($1, $2, $3, $4)
       ON CONFLICT ("user", version) DO UPDATE SET body = excluded.body, signature = excluded.signature`,
      [user, list.version, buf(list.body), buf(list.signature)],
    );
    await this.markKtPending(db, user);
  },

  /** The user's account record changed: the next key-transparency epoch publishes it. */
  async markKtPending(this: PostgresInternals, db: Db, user: UserId): Promise<void> {
    await db.query('INSERT INTO kt_pending ("user", seq) VALUES ($1, 1) ON CONFLICT ("user") DO UPDATE SET seq = kt_pending.seq + 1', [user]);
  },

  async deviceListHistory(this: PostgresInternals, user: UserId, limit: number): Promise<{ body: Uint8Array; signature: Uint8Array }[]> {
    return (await this.pool.query('SELECT body, signature FROM device_list_versions WHERE "user" = $1 ORDER BY version DESC LIMIT $2', [user, limit])).rows.map(
      (r: Row) => ({ body: u8(r.body), signature: u8(r.signature) }),
    );
  },

  async setUserStatus(this: PostgresInternals, user: UserId, status: UserRecord['status']): Promise<boolean> {
    return (await this.pool.query('UPDATE users SET status = $1 WHERE "user" = $2', [status, user])).rowCount === 1;
  },

  /** Inside a transaction: revoke one device and queue its removal notice to the rest of its conversations. */
  async revokeOne(this: PostgresInternals, db: Db, user: UserId, r: Revocation, now: number): Promise<Delivery> {
    await db.query('UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND "user" = $3', [now, r.device, user]);
    await db.query('DELETE FROM sessions WHERE device = $1', [r.device]);
    await db.query('DELETE FROM key_packages WHERE device = $1', [r.device]);
    await db.query('DELETE FROM device_presence WHERE device = $1', [r.device]);
    const gone = (await db.query('DELETE FROM queue WHERE device = $1 RETURNING message', [r.device])).rows as Row[];
    const messages = [...new Set(gone.map((g) => g.message as number))];
    if (messages.length > 0) {
      await db.query('DELETE FROM messages m WHERE m.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.message = m.id)', [messages]);
    }
    const deliveries: Delivery = [];
    const convs = (await db.query('SELECT conversation FROM conversation_members WHERE device = $1 ORDER BY conversation', [r.device])).rows.map(
      (c: Row) => c.conversation as ConversationId,
    );
    for (const conversation of convs) {
      // The conversation row lock orders this against commits on other nodes.
      const epoch = (await this.one('SELECT epoch FROM conversations WHERE id = $1 FOR UPDATE', [conversation], db))!.epoch as number;
      await db.query('DELETE FROM conversation_members WHERE conversation = $1 AND device = $2', [conversation, r.device]);
      const rest = await this.members(db, conversation);
      if (rest.length === 0) continue;
      const input: AppendInput = { conversation, sender: { device: r.device, user }, epoch, id: r.noticeId, payload: r.notice, now };
      deliveries.push(...(await this.enqueue(db, input, 'remove', r.notice, rest)));
    }
    return deliveries;
  },

  async reissueActivation(this: PostgresInternals, user: UserId, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<'ok' | 'enrolled' | 'missing'> {
    return this.tx(async (db): Promise<'ok' | 'enrolled' | 'missing'> => {
      if (!(await this.one('SELECT 1 FROM users WHERE "user" = $1 FOR UPDATE', [user], db))) return 'missing';
      if (await this.one('SELECT 1 FROM device_lists WHERE "user" = $1', [user], db)) return 'enrolled';
      await db.query(
        `INSERT INTO activation_codes ("user", code_hash, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT ("user") DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, used_at = NULL`,
        [user, buf(activation.codeHash), activation.expiresAt],
      );
      return 'ok';
    });
  },

  async resetUser(this: PostgresInternals, user: UserId, revocations: Revocation[], activation: { codeHash: Uint8Array; expiresAt: number }, now: number): Promise<Delivery> {
    return this.tx(async (db) => {
      const deliveries: Delivery = [];
      for (const r of revocations) deliveries.push(...(await this.revokeOne(db, user, r, now)));
      await db.query('DELETE FROM device_lists WHERE "user" = $1', [user]);
      await db.query('DELETE FROM device_list_versions WHERE "user" = $1', [user]);
      await this.markKtPending(db, user);
      await db.query('DELETE FROM device_links WHERE "user" = $1', [user]);
      await db.query(
        `INSERT INTO activation_codes ("user", code_hash, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT ("user") DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, used_at = NULL`,
        [user, buf(activation.codeHash), activation.expiresAt],
      );
      return deliveries;
    });
  },

  async revokeDevices(this: PostgresInternals, user: UserId, revocations: Revocation[], now: number, deviceList?: StoredDeviceList): Promise<Delivery | 'list-changed'> {
    return this.tx(async (db): Promise<Delivery | 'list-changed'> => {
      if (deviceList) {
        const cur = await this.one('SELECT version FROM device_lists WHERE "user" = $1 FOR UPDATE', [user], db);
        if (!cur || (cur.version as number) !== deviceList.version - 1) return 'list-changed';
        await db.query('UPDATE device_lists SET version = $1, account_key = $2, body = $3, signature = $4 WHERE "user" = $5', [
          deviceList.version, buf(deviceList.accountKey), buf(deviceList.body), buf(deviceList.signature), user,
        ]);
        await this.recordListVersion(db, user, deviceList);
      }
      const deliveries: Delivery = [];
      for (const r of revocations) deliveries.push(...(await this.revokeOne(db, user, r, now)));
      return deliveries;
    });
  },

  async createLink(this: PostgresInternals, link: LinkRecord, maxPending: number): Promise<boolean> {
    return this.tx(async (db) => {
      await db.query('SELECT "user" FROM users WHERE "user" = $1 FOR UPDATE', [link.user]);
      await db.query('DELETE FROM device_links WHERE expires_at <= $1 AND sealed IS NULL', [link.createdAt]);
      const n = (await this.one('SELECT COUNT(*)::int AS n FROM device_links WHERE "user" = $1 AND expires_at > $2', [link.user, link.createdAt], db))!.n as number;
      if (n >= maxPending) return false;
      await db.query(
        `INSERT INTO device_links (code_hash, "user", device, name, signature_key, hpke_key, key_packages, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [buf(link.codeHash), link.user, link.device, link.name ?? null, buf(link.signatureKey), buf(link.hpkeKey), buf(encodeLinkKeyPackages(link)), link.createdAt, link.expiresAt],
      );
      return true;
    });
  },

  async getLink(this: PostgresInternals, codeHash: Uint8Array): Promise<LinkRecord | undefined> {
    const r = await this.one('SELECT * FROM device_links WHERE code_hash = $1', [buf(codeHash)]);
    return r ? linkFromRow(r) : undefined;
  },

  async approveLink(this: PostgresInternals, input: { codeHash: Uint8Array; deviceList: StoredDeviceList; sealed: Uint8Array; maxDevices: number; now: number }): Promise<LinkApproveVerdict> {
    return this.tx(async (db): Promise<LinkApproveVerdict> => {
      const r = await this.one('SELECT * FROM device_links WHERE code_hash = $1 FOR UPDATE', [buf(input.codeHash)], db);
      if (!r || r.sealed !== null) return 'not-found';
      const link = linkFromRow(r);
      if (link.expiresAt <= input.now) return 'expired';
      const cur = await this.one('SELECT version FROM device_lists WHERE "user" = $1 FOR UPDATE', [link.user], db);
      const active = (await this.one('SELECT COUNT(*)::int AS n FROM devices WHERE "user" = $1 AND revoked_at IS NULL', [link.user], db))!.n as number;
      if (active + 1 > input.maxDevices) return 'too-many-devices';
      if (await this.one('SELECT 1 FROM devices WHERE id = $1', [link.device], db)) return 'device-exists';
      if (!cur || (cur.version as number) !== input.deviceList.version - 1) return 'list-changed';
      await db.query('UPDATE device_lists SET version = $1, account_key = $2, body = $3, signature = $4 WHERE "user" = $5', [
        input.deviceList.version, buf(input.deviceList.accountKey), buf(input.deviceList.body), buf(input.deviceList.signature), link.user,
      ]);
      await this.recordListVersion(db, link.user, input.deviceList);
      await db.query('INSERT INTO devices (id, "user", name, signature_key, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, NULL)', [
        link.device, link.user, link.name ?? null, buf(link.signatureKey), input.now,
      ]);
      for (const kp of link.keyPackages) {
        await db.query('INSERT INTO key_packages (ref, device, data, last_resort) VALUES ($1, $2, $3, FALSE) ON CONFLICT DO NOTHING', [kp.ref, link.device, buf(kp.data)]);
      }
      await db.query('INSERT INTO key_packages (ref, device, data, last_resort) VALUES ($1, $2, $3, TRUE) ON CONFLICT DO NOTHING', [
        link.lastResort.ref, link.device, buf(link.lastResort.data),
      ]);
      await db.query('UPDATE device_links SET sealed = $1 WHERE code_hash = $2', [buf(input.sealed), buf(input.codeHash)]);
      return 'ok';
    });
  },

  async deleteExpiredLinks(this: PostgresInternals, now: number): Promise<void> {
    await this.pool.query('DELETE FROM device_links WHERE expires_at <= $1', [now]);
  },
};
