// The SQLite store's directory: users, activation, devices and their signed lists, KeyPackages, link requests,
// revocation and reset (each change of a device list queued for the key-transparency log in the same transaction).
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
import { timingSafeEqual } from 'node:crypto';
import type { SqliteInternals } from './internals.js';

const userQuery = 'SELECT u.*, (SELECT COUNT(*) FROM devices d WHERE d.user = u.user AND d.revoked_at IS NULL) AS device_count FROM users u';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteDirectory = {
  async createUser(this: SqliteInternals, user: { user: UserId; name: string | undefined; now: number }, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<boolean> {
    return this.db.transaction(() => {
      const exists = this.stmt('SELECT 1 FROM users WHERE user = ?').get(user.user);
      if (exists) return false;
      this.stmt('INSERT INTO users (user, name, created_at) VALUES (?, ?, ?)').run(user.user, user.name ?? null, user.now);
      this.stmt('INSERT INTO activation_codes (user, code_hash, expires_at) VALUES (?, ?, ?)')
        .run(user.user, activation.codeHash, activation.expiresAt);
      return true;
    })();
  },

  async getUser(this: SqliteInternals, user: UserId): Promise<UserRecord | undefined> {
    const r = this.stmt(`${userQuery} WHERE u.user = ?`).get(user) as Row | undefined;
    return r ? userFromRow(r) : undefined;
  },

  async listUsers(this: SqliteInternals): Promise<UserRecord[]> {
    return (this.stmt(`${userQuery} ORDER BY u.user`).all() as Row[]).map((r) => userFromRow(r));
  },

  async enroll(this: SqliteInternals, input: EnrollInput): Promise<EnrollVerdict> {
    return this.db.transaction((): EnrollVerdict => {
      const user = this.stmt('SELECT status FROM users WHERE user = ?').get(input.user) as Row | undefined;
      const code = this.stmt('SELECT * FROM activation_codes WHERE user = ?').get(input.user) as Row | undefined;
      if (!user || !code || code.used_at !== null) return 'invalid';
      // The code first: whoever does not hold it learns nothing about the user or the code's state.
      const stored = u8(code.code_hash);
      if (stored.length !== input.codeHash.length || !timingSafeEqual(stored, input.codeHash)) {
        this.stmt('UPDATE activation_codes SET attempts = attempts + 1 WHERE user = ?').run(input.user);
        return 'invalid';
      }
      if (user.status !== 'active') return 'user-disabled';
      if ((code.attempts as number) >= input.maxAttempts) return 'exhausted';
      if ((code.expires_at as number) <= input.now) return 'expired';
      if (this.stmt('SELECT 1 FROM devices WHERE id = ?').get(input.device.id)) return 'device-exists';
      this.stmt('UPDATE activation_codes SET used_at = ? WHERE user = ?').run(input.now, input.user);
      this.stmt('INSERT INTO devices (id, user, name, signature_key, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(input.device.id, input.user, input.device.name ?? null, input.device.signatureKey, input.now, input.now);
      this.stmt(
          `INSERT INTO device_lists (user, version, account_key, body, signature) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(user) DO UPDATE SET version = excluded.version, account_key = excluded.account_key,
             body = excluded.body, signature = excluded.signature`,
        )
        .run(input.user, input.deviceList.version, input.deviceList.accountKey, input.deviceList.body, input.deviceList.signature);
      this.recordListVersion(input.user, input.deviceList);
      this.insertKeyPackages(input.device.id, input.keyPackages, input.lastResort);
      return 'ok';
    })();
  },

  async activationCodeHash(this: SqliteInternals, user: UserId): Promise<Uint8Array | undefined> {
    const r = this.stmt('SELECT code_hash FROM activation_codes WHERE user = ? AND used_at IS NULL').get(user) as Row | undefined;
    return r ? u8(r.code_hash) : undefined;
  },

  async countWrongActivation(this: SqliteInternals, user: UserId): Promise<void> {
    this.stmt('UPDATE activation_codes SET attempts = attempts + 1 WHERE user = ?').run(user);
  },

  insertKeyPackages(this: SqliteInternals, device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): void {
    const ins = this.stmt('INSERT OR IGNORE INTO key_packages (ref, device, data, last_resort, suite) VALUES (?, ?, ?, ?, ?)');
    for (const kp of kps) ins.run(kp.ref, device, kp.data, 0, kp.suite ?? 'classic');
    if (lastResort) {
      this.stmt('DELETE FROM key_packages WHERE device = ? AND last_resort = 1 AND suite = ?').run(device, lastResort.suite ?? 'classic');
      ins.run(lastResort.ref, device, lastResort.data, 1, lastResort.suite ?? 'classic');
    }
  },

  async getDevice(this: SqliteInternals, device: DeviceId): Promise<DeviceRecord | undefined> {
    const r = this.stmt('SELECT * FROM devices WHERE id = ?').get(device) as Row | undefined;
    return r ? deviceFromRow(r) : undefined;
  },

  async listDevices(this: SqliteInternals, user: UserId): Promise<DeviceRecord[]> {
    return (this.stmt('SELECT * FROM devices WHERE user = ? ORDER BY created_at').all(user) as Row[]).map((r) => deviceFromRow(r));
  },

  async touchDevice(this: SqliteInternals, device: DeviceId, now: number): Promise<void> {
    this.stmt('UPDATE devices SET last_seen_at = ? WHERE id = ?').run(now, device);
  },

  async getDeviceList(this: SqliteInternals, user: UserId): Promise<StoredDeviceList | undefined> {
    const r = this.stmt('SELECT * FROM device_lists WHERE user = ?').get(user) as Row | undefined;
    if (!r) return undefined;
    return { version: r.version as number, accountKey: u8(r.account_key), body: u8(r.body), signature: u8(r.signature) };
  },

  async addKeyPackages(this: SqliteInternals, device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined, max: number): Promise<number | undefined> {
    return this.db.transaction(() => {
      const have = this.countSync(device);
      if (have + kps.length > max) return undefined;
      this.insertKeyPackages(device, kps, lastResort);
      return this.countSync(device);
    })();
  },

  countSync(this: SqliteInternals, device: DeviceId, suite?: SuiteName): number {
    if (suite) return (this.stmt('SELECT COUNT(*) AS n FROM key_packages WHERE device = ? AND last_resort = 0 AND suite = ?').get(device, suite) as Row).n as number;
    return (this.stmt('SELECT COUNT(*) AS n FROM key_packages WHERE device = ? AND last_resort = 0').get(device) as Row).n as number;
  },

  async countKeyPackages(this: SqliteInternals, device: DeviceId, suite?: SuiteName): Promise<number> {
    return this.countSync(device, suite);
  },

  async claimKeyPackages(
    this: SqliteInternals,
    users: UserId[],
    exclude: DeviceId[],
    lastResortOnly: ReadonlySet<DeviceId> = new Set(),
    suite: SuiteName = 'classic',
  ): Promise<ClaimedKeyPackage[]> {
    const skip = new Set<string>(exclude);
    return this.db.transaction(() => {
      const out: ClaimedKeyPackage[] = [];
      const pick = this.stmt('SELECT ref, data, last_resort FROM key_packages WHERE device = ? AND suite = ? ORDER BY last_resort, rowid LIMIT 1');
      const pickLastResort = this.stmt('SELECT ref, data, last_resort FROM key_packages WHERE device = ? AND suite = ? AND last_resort = 1');
      const del = this.stmt('DELETE FROM key_packages WHERE ref = ?');
      for (const user of users) {
        for (const d of this.stmt('SELECT id FROM devices WHERE user = ? AND revoked_at IS NULL ORDER BY created_at').all(user) as Row[]) {
          const device = d.id as DeviceId;
          if (skip.has(device)) continue;
          const kp = (lastResortOnly.has(device) ? pickLastResort : pick).get(device, suite) as Row | undefined;
          if (kp && kp.last_resort === 0) del.run(kp.ref);
          out.push({ user, device, data: kp ? u8(kp.data) : undefined });
        }
      }
      return out;
    })();
  },

  // ---- devices and administration -------------------------------------------------------------------------
  recordListVersion(this: SqliteInternals, user: UserId, list: StoredDeviceList): void {
    this.stmt('INSERT OR REPLACE INTO device_list_versions (user, version, body, signature) VALUES (?, ?, ?, ?)').run(user, list.version, list.body, list.signature);
    this.markKtPending(user);
  },

  /** The user's account record changed: the next key-transparency epoch publishes it. */
  markKtPending(this: SqliteInternals, user: UserId): void {
    this.stmt('INSERT INTO kt_pending (user, seq) VALUES (?, 1) ON CONFLICT(user) DO UPDATE SET seq = seq + 1').run(user);
  },

  async deviceListHistory(this: SqliteInternals, user: UserId, limit: number): Promise<{ body: Uint8Array; signature: Uint8Array }[]> {
    return (this.stmt('SELECT body, signature FROM device_list_versions WHERE user = ? ORDER BY version DESC LIMIT ?').all(user, limit) as Row[]).map((r) => ({
      body: u8(r.body),
      signature: u8(r.signature),
    }));
  },

  async setUserStatus(this: SqliteInternals, user: UserId, status: UserRecord['status']): Promise<boolean> {
    return this.stmt('UPDATE users SET status = ? WHERE user = ?').run(status, user).changes === 1;
  },

  /** Inside a transaction: revoke one device and queue its removal notice to the rest of its conversations. */
  revokeOne(this: SqliteInternals, user: UserId, r: Revocation, now: number): Delivery {
    this.stmt('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user = ?').run(now, r.device, user);
    this.stmt('DELETE FROM sessions WHERE device = ?').run(r.device);
    this.stmt('DELETE FROM key_packages WHERE device = ?').run(r.device);
    this.stmt('DELETE FROM device_presence WHERE device = ?').run(r.device);
    const queued = (this.stmt('SELECT seq FROM queue WHERE device = ?').all(r.device) as Row[]).map((q) => q.seq as number);
    this.ackBatch([{ device: r.device, seqs: queued }]);
    const deliveries: Delivery = [];
    const convs = (this.stmt('SELECT conversation FROM conversation_members WHERE device = ?').all(r.device) as Row[]).map((c) => c.conversation as ConversationId);
    for (const conversation of convs) {
      this.stmt('DELETE FROM conversation_members WHERE conversation = ? AND device = ?').run(conversation, r.device);
      const epoch = (this.stmt('SELECT epoch FROM conversations WHERE id = ?').get(conversation) as Row).epoch as number;
      const rest = this.membersSync(conversation);
      if (rest.length === 0) continue;
      const input: AppendInput = { conversation, sender: { device: r.device, user }, epoch, id: r.noticeId, payload: r.notice, now };
      deliveries.push(...this.enqueue(input, 'remove', r.notice, rest));
    }
    return deliveries;
  },

  async reissueActivation(this: SqliteInternals, user: UserId, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<'ok' | 'enrolled' | 'missing'> {
    return this.db.transaction((): 'ok' | 'enrolled' | 'missing' => {
      if (!this.stmt('SELECT 1 FROM users WHERE user = ?').get(user)) return 'missing';
      if (this.stmt('SELECT 1 FROM device_lists WHERE user = ?').get(user)) return 'enrolled';
      this.stmt(
        `INSERT INTO activation_codes (user, code_hash, expires_at) VALUES (?, ?, ?)
         ON CONFLICT(user) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, used_at = NULL`,
      ).run(user, activation.codeHash, activation.expiresAt);
      return 'ok';
    })();
  },

  async resetUser(this: SqliteInternals, user: UserId, revocations: Revocation[], activation: { codeHash: Uint8Array; expiresAt: number }, now: number): Promise<Delivery> {
    return this.db.transaction(() => {
      const deliveries = revocations.flatMap((r) => this.revokeOne(user, r, now));
      this.stmt('DELETE FROM device_lists WHERE user = ?').run(user);
      this.stmt('DELETE FROM device_list_versions WHERE user = ?').run(user);
      this.markKtPending(user);
      this.stmt('DELETE FROM device_links WHERE user = ?').run(user);
      this.stmt(
          `INSERT INTO activation_codes (user, code_hash, expires_at) VALUES (?, ?, ?)
           ON CONFLICT(user) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, used_at = NULL`,
        )
        .run(user, activation.codeHash, activation.expiresAt);
      return deliveries;
    })();
  },

  async revokeDevices(this: SqliteInternals, user: UserId, revocations: Revocation[], now: number, deviceList?: StoredDeviceList): Promise<Delivery | 'list-changed'> {
    return this.db.transaction((): Delivery | 'list-changed' => {
      if (deviceList) {
        const cur = this.stmt('SELECT version FROM device_lists WHERE user = ?').get(user) as Row | undefined;
        if (!cur || (cur.version as number) !== deviceList.version - 1) return 'list-changed';
        this.stmt('UPDATE device_lists SET version = ?, account_key = ?, body = ?, signature = ? WHERE user = ?').run(
          deviceList.version, deviceList.accountKey, deviceList.body, deviceList.signature, user);
        this.recordListVersion(user, deviceList);
      }
      return revocations.flatMap((r) => this.revokeOne(user, r, now));
    })();
  },

  async createLink(this: SqliteInternals, link: LinkRecord, maxPending: number): Promise<boolean> {
    return this.db.transaction(() => {
      this.stmt('DELETE FROM device_links WHERE expires_at <= ? AND sealed IS NULL').run(link.createdAt);
      const n = (this.stmt('SELECT COUNT(*) AS n FROM device_links WHERE user = ? AND expires_at > ?').get(link.user, link.createdAt) as Row).n as number;
      if (n >= maxPending) return false;
      this.stmt(
        `INSERT INTO device_links (code_hash, user, device, name, signature_key, hpke_key, key_packages, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(link.codeHash, link.user, link.device, link.name ?? null, link.signatureKey, link.hpkeKey, encodeLinkKeyPackages(link), link.createdAt, link.expiresAt);
      return true;
    })();
  },

  async getLink(this: SqliteInternals, codeHash: Uint8Array): Promise<LinkRecord | undefined> {
    const r = this.stmt('SELECT * FROM device_links WHERE code_hash = ?').get(codeHash) as Row | undefined;
    return r ? linkFromRow(r) : undefined;
  },

  async approveLink(this: SqliteInternals, input: { codeHash: Uint8Array; deviceList: StoredDeviceList; sealed: Uint8Array; maxDevices: number; now: number }): Promise<LinkApproveVerdict> {
    return this.db.transaction((): LinkApproveVerdict => {
      const r = this.stmt('SELECT * FROM device_links WHERE code_hash = ?').get(input.codeHash) as Row | undefined;
      if (!r || r.sealed !== null) return 'not-found';
      const link = linkFromRow(r);
      if (link.expiresAt <= input.now) return 'expired';
      const active = (this.stmt('SELECT COUNT(*) AS n FROM devices WHERE user = ? AND revoked_at IS NULL').get(link.user) as Row).n as number;
      if (active + 1 > input.maxDevices) return 'too-many-devices';
      if (this.stmt('SELECT 1 FROM devices WHERE id = ?').get(link.device)) return 'device-exists';
      const cur = this.stmt('SELECT version FROM device_lists WHERE user = ?').get(link.user) as Row | undefined;
      if (!cur || (cur.version as number) !== input.deviceList.version - 1) return 'list-changed';
      this.stmt('UPDATE device_lists SET version = ?, account_key = ?, body = ?, signature = ? WHERE user = ?').run(
        input.deviceList.version, input.deviceList.accountKey, input.deviceList.body, input.deviceList.signature, link.user);
      this.recordListVersion(link.user, input.deviceList);
      this.stmt('INSERT INTO devices (id, user, name, signature_key, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, NULL)').run(
        link.device, link.user, link.name ?? null, link.signatureKey, input.now);
      this.insertKeyPackages(link.device, link.keyPackages, link.lastResort);
      this.stmt('UPDATE device_links SET sealed = ? WHERE code_hash = ?').run(input.sealed, input.codeHash);
      return 'ok';
    })();
  },

  async deleteExpiredLinks(this: SqliteInternals, now: number): Promise<void> {
    this.stmt('DELETE FROM device_links WHERE expires_at <= ?').run(now);
  },
};
