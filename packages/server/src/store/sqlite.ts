// ServerStore on SQLite (better-sqlite3): one file in the data folder, WAL mode, synchronous=FULL so that an
// acknowledged message survives a crash. better-sqlite3 is synchronous; each method is one transaction.
import Database from 'better-sqlite3';
import type { BlobId, ConversationId, DeviceId, QueueItem, UserId } from '@sealpost/protocol';
import { sqliteMigrations } from './sqlite-migrations.js';
import type {
  AppendInput,
  AppendResult,
  BlobRecord,
  ClaimedKeyPackage,
  CommitInput,
  ConversationRecord,
  Delivery,
  DeviceRecord,
  EnrollInput,
  EnrollVerdict,
  NewKeyPackage,
  ServerStore,
  StoredDeviceList,
  UserRecord,
} from './store.js';
import { timingSafeEqual } from 'node:crypto';
import { chmodSync } from 'node:fs';

type Row = Record<string, unknown>;

export function openSqliteStore(file: string): SqliteStore {
  const db = new Database(file);
  // The database holds hashes and metadata only, but no one else on the machine needs to read it.
  if (file !== ':memory:') chmodSync(file, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return new SqliteStore(db);
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => r.version as number));
  for (const m of sqliteMigrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
}

const u8 = (b: unknown): Uint8Array => new Uint8Array(b as Buffer);

type Outcome = { ok: AppendResult } | { err: unknown };

export class SqliteStore implements ServerStore {
  // better-sqlite3 prepares BEGIN/COMMIT when a transaction function is made, so the hot ones are made once.
  private readonly appendBatchTx: (inputs: AppendInput[], outcomes: Outcome[]) => void;
  /** Nested inside appendBatchTx it runs as a savepoint: a throw undoes that one append only. */
  private readonly appendOneTx: (input: AppendInput) => AppendResult;
  private readonly ackBatchTx: (batch: { device: DeviceId; seqs: number[] }[]) => number[];

  constructor(readonly db: Database.Database) {
    this.appendOneTx = db.transaction((input: AppendInput): AppendResult => this.appendOne(input));
    this.appendBatchTx = db.transaction((inputs: AppendInput[], outcomes: Outcome[]) => {
      for (const input of inputs) {
        try {
          outcomes.push({ ok: this.appendOneTx(input) });
        } catch (err) {
          outcomes.push({ err });
        }
      }
    });
    this.ackBatchTx = db.transaction((batch: { device: DeviceId; seqs: number[] }[]) => batch.map(({ device, seqs }) => this.ackOne(device, seqs)));
  }

  // Prepared once, reused: preparing a statement costs more than running it on the hot path.
  private readonly statements = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async ping(): Promise<boolean> {
    try {
      this.stmt('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return row?.value as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async createUser(user: { user: UserId; name: string | undefined; now: number }, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<boolean> {
    return this.db.transaction(() => {
      const exists = this.stmt('SELECT 1 FROM users WHERE user = ?').get(user.user);
      if (exists) return false;
      this.stmt('INSERT INTO users (user, name, created_at) VALUES (?, ?, ?)').run(user.user, user.name ?? null, user.now);
      this.db
        .prepare('INSERT INTO activation_codes (user, code_hash, expires_at) VALUES (?, ?, ?)')
        .run(user.user, activation.codeHash, activation.expiresAt);
      return true;
    })();
  }

  private userFromRow(r: Row): UserRecord {
    return {
      user: r.user as UserId,
      name: (r.name as string | null) ?? undefined,
      status: r.status as UserRecord['status'],
      createdAt: r.created_at as number,
      deviceCount: r.device_count as number,
    };
  }

  private static readonly userQuery =
    'SELECT u.*, (SELECT COUNT(*) FROM devices d WHERE d.user = u.user) AS device_count FROM users u';

  async getUser(user: UserId): Promise<UserRecord | undefined> {
    const r = this.stmt(`${SqliteStore.userQuery} WHERE u.user = ?`).get(user) as Row | undefined;
    return r ? this.userFromRow(r) : undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (this.stmt(`${SqliteStore.userQuery} ORDER BY u.user`).all() as Row[]).map((r) => this.userFromRow(r));
  }

  async enroll(input: EnrollInput): Promise<EnrollVerdict> {
    return this.db.transaction((): EnrollVerdict => {
      const user = this.stmt('SELECT status FROM users WHERE user = ?').get(input.user) as Row | undefined;
      const code = this.stmt('SELECT * FROM activation_codes WHERE user = ?').get(input.user) as Row | undefined;
      if (!user || !code || code.used_at !== null) return 'invalid';
      if (user.status !== 'active') return 'user-disabled';
      if ((code.attempts as number) >= input.maxAttempts) return 'exhausted';
      if ((code.expires_at as number) <= input.now) return 'expired';
      const stored = u8(code.code_hash);
      if (stored.length !== input.codeHash.length || !timingSafeEqual(stored, input.codeHash)) {
        this.stmt('UPDATE activation_codes SET attempts = attempts + 1 WHERE user = ?').run(input.user);
        return (code.attempts as number) + 1 >= input.maxAttempts ? 'exhausted' : 'invalid';
      }
      if (this.stmt('SELECT 1 FROM devices WHERE id = ?').get(input.device.id)) return 'device-exists';
      this.stmt('UPDATE activation_codes SET used_at = ? WHERE user = ?').run(input.now, input.user);
      this.db
        .prepare('INSERT INTO devices (id, user, name, signature_key, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(input.device.id, input.user, input.device.name ?? null, input.device.signatureKey, input.now, input.now);
      this.db
        .prepare(
          `INSERT INTO device_lists (user, version, account_key, body, signature) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(user) DO UPDATE SET version = excluded.version, account_key = excluded.account_key,
             body = excluded.body, signature = excluded.signature`,
        )
        .run(input.user, input.deviceList.version, input.deviceList.accountKey, input.deviceList.body, input.deviceList.signature);
      this.insertKeyPackages(input.device.id, input.keyPackages, input.lastResort);
      return 'ok';
    })();
  }

  private insertKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): void {
    const ins = this.stmt('INSERT OR IGNORE INTO key_packages (ref, device, data, last_resort) VALUES (?, ?, ?, ?)');
    for (const kp of kps) ins.run(kp.ref, device, kp.data, 0);
    if (lastResort) {
      this.stmt('DELETE FROM key_packages WHERE device = ? AND last_resort = 1').run(device);
      ins.run(lastResort.ref, device, lastResort.data, 1);
    }
  }

  private deviceFromRow(r: Row): DeviceRecord {
    return {
      id: r.id as DeviceId,
      user: r.user as UserId,
      name: (r.name as string | null) ?? undefined,
      signatureKey: u8(r.signature_key),
      createdAt: r.created_at as number,
      lastSeenAt: (r.last_seen_at as number | null) ?? undefined,
    };
  }

  async getDevice(device: DeviceId): Promise<DeviceRecord | undefined> {
    const r = this.stmt('SELECT * FROM devices WHERE id = ?').get(device) as Row | undefined;
    return r ? this.deviceFromRow(r) : undefined;
  }

  async listDevices(user: UserId): Promise<DeviceRecord[]> {
    return (this.stmt('SELECT * FROM devices WHERE user = ? ORDER BY created_at').all(user) as Row[]).map((r) => this.deviceFromRow(r));
  }

  async touchDevice(device: DeviceId, now: number): Promise<void> {
    this.stmt('UPDATE devices SET last_seen_at = ? WHERE id = ?').run(now, device);
  }

  async getDeviceList(user: UserId): Promise<StoredDeviceList | undefined> {
    const r = this.stmt('SELECT * FROM device_lists WHERE user = ?').get(user) as Row | undefined;
    if (!r) return undefined;
    return { version: r.version as number, accountKey: u8(r.account_key), body: u8(r.body), signature: u8(r.signature) };
  }

  async addKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined, max: number): Promise<number | undefined> {
    return this.db.transaction(() => {
      const have = this.countSync(device);
      if (have + kps.length > max) return undefined;
      this.insertKeyPackages(device, kps, lastResort);
      return this.countSync(device);
    })();
  }

  private countSync(device: DeviceId): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM key_packages WHERE device = ? AND last_resort = 0').get(device) as Row).n as number;
  }

  async countKeyPackages(device: DeviceId): Promise<number> {
    return this.countSync(device);
  }

  async claimKeyPackages(users: UserId[], exclude: DeviceId[]): Promise<ClaimedKeyPackage[]> {
    const skip = new Set<string>(exclude);
    return this.db.transaction(() => {
      const out: ClaimedKeyPackage[] = [];
      const pick = this.stmt('SELECT ref, data, last_resort FROM key_packages WHERE device = ? ORDER BY last_resort, rowid LIMIT 1');
      const del = this.stmt('DELETE FROM key_packages WHERE ref = ?');
      for (const user of users) {
        for (const d of this.stmt('SELECT id FROM devices WHERE user = ? ORDER BY created_at').all(user) as Row[]) {
          const device = d.id as DeviceId;
          if (skip.has(device)) continue;
          const kp = pick.get(device) as Row | undefined;
          if (kp && kp.last_resort === 0) del.run(kp.ref);
          out.push({ user, device, data: kp ? u8(kp.data) : undefined });
        }
      }
      return out;
    })();
  }

  async putChallenge(device: DeviceId, challenge: Uint8Array, expiresAt: number): Promise<void> {
    this.db.transaction(() => {
      // Expired challenges are swept here, so the table cannot grow without bound.
      this.stmt('DELETE FROM auth_challenges WHERE expires_at <= ?').run(Date.now());
      const n = (this.stmt('SELECT COUNT(*) AS n FROM auth_challenges WHERE device = ?').get(device) as Row).n as number;
      if (n >= 16) this.stmt('DELETE FROM auth_challenges WHERE rowid IN (SELECT rowid FROM auth_challenges WHERE device = ? ORDER BY expires_at LIMIT ?)').run(device, n - 15);
      this.stmt('INSERT OR REPLACE INTO auth_challenges (device, challenge, expires_at) VALUES (?, ?, ?)').run(device, challenge, expiresAt);
    })();
  }

  async takeChallenge(device: DeviceId, challenge: Uint8Array, now: number): Promise<boolean> {
    const res = this.stmt('DELETE FROM auth_challenges WHERE device = ? AND challenge = ? AND expires_at > ?').run(device, challenge, now);
    return res.changes === 1;
  }

  async createSession(tokenHash: Uint8Array, device: DeviceId, expiresAt: number): Promise<void> {
    this.db.transaction(() => {
      this.stmt('DELETE FROM sessions WHERE expires_at <= ?').run(Date.now());
      this.stmt('INSERT INTO sessions (token_hash, device, expires_at) VALUES (?, ?, ?)').run(tokenHash, device, expiresAt);
    })();
  }

  async getSession(tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId } | undefined> {
    const r = this.db
      .prepare(
        `SELECT s.device, d.user FROM sessions s JOIN devices d ON d.id = s.device JOIN users u ON u.user = d.user
         WHERE s.token_hash = ? AND s.expires_at > ? AND u.status = 'active'`,
      )
      .get(tokenHash, now) as Row | undefined;
    return r ? { device: r.device as DeviceId, user: r.user as UserId } : undefined;
  }

  async createConversation(id: ConversationId, creator: DeviceId, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.stmt('SELECT 1 FROM conversations WHERE id = ?').get(id)) return false;
      this.stmt('INSERT INTO conversations (id, epoch, created_at) VALUES (?, 0, ?)').run(id, now);
      this.stmt('INSERT INTO conversation_members (conversation, device) VALUES (?, ?)').run(id, creator);
      return true;
    })();
  }

  private membersSync(id: ConversationId): DeviceId[] {
    return (this.stmt('SELECT device FROM conversation_members WHERE conversation = ? ORDER BY device').all(id) as Row[]).map(
      (r) => r.device as DeviceId,
    );
  }

  async getConversation(id: ConversationId): Promise<ConversationRecord | undefined> {
    const r = this.stmt('SELECT epoch FROM conversations WHERE id = ?').get(id) as Row | undefined;
    return r ? { id, epoch: r.epoch as number, members: this.membersSync(id) } : undefined;
  }

  /** Inserts one message row and a queue row per recipient; returns what to push. */
  private enqueue(input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, recipients: DeviceId[]): Delivery {
    const msg = this.db
      .prepare(
        'INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(input.conversation, kind, input.epoch, input.id, input.sender.device, input.sender.user, input.now, payload);
    const ins = this.stmt('INSERT INTO queue (device, message) VALUES (?, ?)');
    return recipients.map((device) => {
      const seq = Number(ins.run(device, msg.lastInsertRowid).lastInsertRowid);
      const item: QueueItem = {
        seq,
        c: input.conversation,
        k: kind,
        e: input.epoch,
        id: input.id,
        from: input.sender.device,
        fromUser: input.sender.user,
        at: input.now,
        p: payload,
      };
      return { device, item };
    });
  }

  private checkMember(conversation: ConversationId, device: DeviceId): { epoch: number } | AppendResult {
    const conv = this.stmt('SELECT epoch FROM conversations WHERE id = ?').get(conversation) as Row | undefined;
    if (!conv) return { kind: 'not-found' };
    if (!this.stmt('SELECT 1 FROM conversation_members WHERE conversation = ? AND device = ?').get(conversation, device)) {
      return { kind: 'not-member' };
    }
    return { epoch: conv.epoch as number };
  }

  /**
   * Group commit: appends that arrive in the same turn of the event loop share one transaction, so one fsync
   * (synchronous=FULL) acknowledges them all. Each keeps its own savepoint, so one failing append fails alone.
   * Order is arrival order, and every caller is answered only after the shared transaction has committed.
   */
  appendMessage(input: AppendInput): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pendingAppends.push({ input, resolve, reject });
      if (this.pendingAppends.length === 1) setImmediate(() => this.flushAppends());
    });
  }

  private pendingAppends: { input: AppendInput; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }[] = [];

  private flushAppends(): void {
    const batch = this.pendingAppends.splice(0, 1000);
    if (this.pendingAppends.length > 0) setImmediate(() => this.flushAppends());
    const outcomes: Outcome[] = [];
    try {
      this.appendBatchTx(batch.map((b) => b.input), outcomes);
    } catch (err) {
      // The commit itself failed: nobody's message is stored.
      for (const b of batch) b.reject(err);
      return;
    }
    batch.forEach((b, i) => {
      const o = outcomes[i]!;
      if ('ok' in o) b.resolve(o.ok);
      else b.reject(o.err);
    });
  }

  // better-sqlite3 prepares BEGIN/COMMIT when a transaction function is made, so hot ones are made once.

  private appendOne(input: AppendInput): AppendResult {
    const check = this.checkMember(input.conversation, input.sender.device);
    if ('kind' in check) return check;
    // A retry of a message we already stored is acknowledged again, not stored twice.
    if (this.stmt("SELECT 1 FROM messages WHERE conversation = ? AND kind = 'app' AND msg_id = ?").get(input.conversation, input.id)) {
      return { kind: 'ok', epoch: check.epoch, deliveries: [], duplicate: true };
    }
    if (input.epoch !== check.epoch) return { kind: 'epoch-conflict', epoch: check.epoch };
    const recipients = this.membersSync(input.conversation).filter((d) => d !== input.sender.device);
    const blobs = input.blobs ?? [];
    const usable = this.stmt('SELECT 1 FROM blobs b JOIN blob_grants g ON g.blob = b.id WHERE b.id = ? AND b.complete = 1 AND g.device = ?');
    for (const blob of blobs) if (!usable.get(blob, input.sender.device)) return { kind: 'blob-not-found', blob };
    const grant = this.stmt('INSERT OR IGNORE INTO blob_grants (blob, device) VALUES (?, ?)');
    for (const blob of blobs) for (const d of recipients) grant.run(blob, d);
    return { kind: 'ok', epoch: check.epoch, deliveries: this.enqueue(input, 'app', input.payload, recipients), duplicate: false };
  }

  async appendCommit(input: CommitInput): Promise<AppendResult> {
    return this.db.transaction((): AppendResult => {
      const check = this.checkMember(input.conversation, input.sender.device);
      if ('kind' in check) {
        return check;
      }
      const prior = this.db
        .prepare('SELECT commit_id FROM conversation_epochs WHERE conversation = ? AND epoch = ?')
        .get(input.conversation, input.epoch) as Row | undefined;
      if (prior) {
        // RFC 9420 §14: exactly one commit per epoch. A retry of the winner is acknowledged again.
        if (prior.commit_id === input.id) return { kind: 'ok', epoch: input.epoch + 1, deliveries: [], duplicate: true };
        return { kind: 'epoch-conflict', epoch: check.epoch };
      }
      if (input.epoch !== check.epoch) return { kind: 'epoch-conflict', epoch: check.epoch };
      const members = new Set(this.membersSync(input.conversation));
      for (const d of input.remove) {
        if (!members.has(d)) return { kind: 'invalid', message: `commit.remove: ${d} is not a member` };
        if (d === input.sender.device) return { kind: 'invalid', message: 'commit.remove: a device cannot remove itself by commit' };
      }
      for (const d of input.add) {
        if (members.has(d)) return { kind: 'invalid', message: `commit.add: ${d} is already a member` };
        if (!this.stmt('SELECT 1 FROM devices WHERE id = ?').get(d)) return { kind: 'invalid', message: `commit.add: unknown device ${d}` };
      }
      if (input.add.length > 0 && !input.welcome) return { kind: 'invalid', message: 'commit.w: a commit that adds devices needs a Welcome' };

      this.db
        .prepare('INSERT INTO conversation_epochs (conversation, epoch, commit_id, sender, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(input.conversation, input.epoch, input.id, input.sender.device, input.now);
      this.stmt('UPDATE conversations SET epoch = ? WHERE id = ?').run(input.epoch + 1, input.conversation);
      // Everyone who was a member sees the commit — removed devices too, so they learn they were removed.
      const deliveries = this.enqueue(input, 'commit', input.payload, [...members].filter((d) => d !== input.sender.device));
      const delMember = this.stmt('DELETE FROM conversation_members WHERE conversation = ? AND device = ?');
      for (const d of input.remove) delMember.run(input.conversation, d);
      const addMember = this.stmt('INSERT INTO conversation_members (conversation, device) VALUES (?, ?)');
      for (const d of input.add) addMember.run(input.conversation, d);
      if (input.welcome && input.add.length > 0) {
        deliveries.push(...this.enqueue({ ...input, epoch: input.epoch + 1 }, 'welcome', input.welcome, input.add));
      }
      return { kind: 'ok', epoch: input.epoch + 1, deliveries, duplicate: false };
    })();
  }

  async fetchQueue(device: DeviceId, after: number, limit: number): Promise<QueueItem[]> {
    const rows = this.db
      .prepare(
        `SELECT q.seq, m.conversation, m.kind, m.epoch, m.msg_id, m.sender_device, m.sender_user, m.created_at, m.payload
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = ? AND q.seq > ? ORDER BY q.seq LIMIT ?`,
      )
      .all(device, after, limit) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number,
      c: r.conversation as ConversationId,
      k: r.kind as QueueItem['k'],
      e: r.epoch as number,
      id: r.msg_id as QueueItem['id'],
      from: r.sender_device as DeviceId,
      fromUser: r.sender_user as UserId,
      at: r.created_at as number,
      p: u8(r.payload),
    }));
  }

  async createBlob(blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'> {
    return this.db.transaction((): 'ok' | 'quota' => {
      const used = (this.stmt('SELECT COALESCE(SUM(size), 0) AS n FROM blobs WHERE owner_user = ?').get(blob.ownerUser) as Row).n as number;
      if (used + blob.size > quotaBytes) return 'quota';
      this.db
        .prepare('INSERT INTO blobs (id, owner_user, owner_device, size, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(blob.id, blob.ownerUser, blob.ownerDevice, blob.size, blob.now);
      this.stmt('INSERT INTO blob_grants (blob, device) VALUES (?, ?)').run(blob.id, blob.ownerDevice);
      return 'ok';
    })();
  }

  async getBlob(id: BlobId): Promise<BlobRecord | undefined> {
    const r = this.stmt('SELECT * FROM blobs WHERE id = ?').get(id) as Row | undefined;
    if (!r) return undefined;
    return {
      id: r.id as BlobId,
      ownerUser: r.owner_user as UserId,
      ownerDevice: r.owner_device as DeviceId,
      size: r.size as number,
      received: r.received as number,
      complete: r.complete === 1,
      createdAt: r.created_at as number,
    };
  }

  async setBlobReceived(id: BlobId, received: number, complete: boolean, now: number): Promise<void> {
    this.stmt('UPDATE blobs SET received = ?, complete = ?, completed_at = ? WHERE id = ?').run(received, complete ? 1 : 0, complete ? now : null, id);
  }

  async hasBlobGrant(id: BlobId, device: DeviceId): Promise<boolean> {
    return this.stmt('SELECT 1 FROM blob_grants WHERE blob = ? AND device = ?').get(id, device) !== undefined;
  }

  async releaseBlobGrant(id: BlobId, device: DeviceId): Promise<boolean> {
    return this.db.transaction(() => {
      this.stmt('DELETE FROM blob_grants WHERE blob = ? AND device = ?').run(id, device);
      if (this.stmt('SELECT 1 FROM blob_grants WHERE blob = ?').get(id)) return false;
      return this.stmt('DELETE FROM blobs WHERE id = ?').run(id).changes === 1;
    })();
  }

  async blobBytesOf(user: UserId): Promise<number> {
    return (this.stmt('SELECT COALESCE(SUM(size), 0) AS n FROM blobs WHERE owner_user = ?').get(user) as Row).n as number;
  }

  async deleteStaleUploads(before: number): Promise<BlobId[]> {
    return this.db.transaction(() => {
      const ids = (this.stmt('SELECT id FROM blobs WHERE complete = 0 AND created_at < ?').all(before) as Row[]).map((r) => r.id as BlobId);
      const del = this.stmt('DELETE FROM blobs WHERE id = ?');
      for (const id of ids) del.run(id);
      return ids;
    })();
  }

  async queueDepth(): Promise<number> {
    return (this.stmt('SELECT COUNT(*) AS n FROM queue').get() as Row).n as number;
  }

  async addPresence(device: DeviceId, node: string, now: number): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO device_presence (device, node, since) VALUES (?, ?, ?)').run(device, node, now);
  }

  async removePresence(device: DeviceId, node: string): Promise<void> {
    this.stmt('DELETE FROM device_presence WHERE device = ? AND node = ?').run(device, node);
  }

  async presenceOf(devices: DeviceId[]): Promise<{ device: DeviceId; node: string }[]> {
    const q = this.stmt('SELECT device, node FROM device_presence WHERE device = ?');
    return devices.flatMap((d) => q.all(d) as { device: DeviceId; node: string }[]);
  }

  async clearPresence(node: string): Promise<void> {
    this.stmt('DELETE FROM device_presence WHERE node = ?').run(node);
  }

  /** Acks that arrive in the same turn of the event loop share one transaction, like appends. */
  ack(device: DeviceId, seqs: number[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ device, seqs, resolve, reject });
      if (this.pendingAcks.length === 1) setImmediate(() => this.flushAcks());
    });
  }

  private pendingAcks: { device: DeviceId; seqs: number[]; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];

  private flushAcks(): void {
    const batch = this.pendingAcks.splice(0, 1000);
    if (this.pendingAcks.length > 0) setImmediate(() => this.flushAcks());
    let counts: number[];
    try {
      counts = this.ackBatchTx(batch);
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    batch.forEach((b, i) => b.resolve(counts[i]!));
  }


  private ackOne(device: DeviceId, seqs: number[]): number {
    const find = this.stmt('SELECT message FROM queue WHERE seq = ? AND device = ?');
    const del = this.stmt('DELETE FROM queue WHERE seq = ?');
    const gc = this.stmt('DELETE FROM messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue WHERE message = ?)');
    let n = 0;
    for (const seq of seqs) {
      const row = find.get(seq, device) as Row | undefined;
      if (!row) continue;
      del.run(seq);
      gc.run(row.message, row.message);
      n++;
    }
    return n;
  }

}
