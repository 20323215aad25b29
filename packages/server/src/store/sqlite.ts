// ServerStore on SQLite (better-sqlite3): one file in the data folder, WAL mode, synchronous=FULL so that an
// acknowledged message survives a crash. better-sqlite3 is synchronous; each method is one transaction.
import Database from 'better-sqlite3';
import { auditEntryHash, AUDIT_GENESIS, type AuditEntry, type AuditFields, type BlobId, type ConversationId, type DeviceId, type MessageId, type QueueItem, type UserId } from '@sealpost/protocol';
import { sqliteMigrations } from './sqlite-migrations.js';
import { decodeLinkKeyPackages, encodeLinkKeyPackages } from './link-key-packages.js';
import {
  auditFromRow,
  deviceFromRow,
  ktEpochFromRow,
  ktPendingFromRow,
  ktUpdateFromRow,
  linkFromRow,
  queueEntryFromRow,
  queueItemFromRow,
  queueItemOf,
  u8,
  userFromRow,
  type Row,
} from './rows.js';
import { decideCommit, devicesNamed } from '../delivery/commit-rules.js';
import type {
  KtEpochRecord,
  KtPending,
  KtNextIndex,
  KtUpdateRecord,
  AdminTokenRecord,
  LinkApproveVerdict,
  LinkRecord,
  Revocation,
  UserLookup,
  WipeRecord,
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
  QueueEntry,
} from './store.js';
import { timingSafeEqual } from 'node:crypto';
import { chmodSync } from 'node:fs';


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
    // Appends already accepted into a batch are stored (and answered) before the database closes.
    while (this.db.open && this.pendingAppends.length > 0) this.flushAppends();
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
      this.stmt('INSERT INTO activation_codes (user, code_hash, expires_at) VALUES (?, ?, ?)')
        .run(user.user, activation.codeHash, activation.expiresAt);
      return true;
    })();
  }


  private static readonly userQuery =
    'SELECT u.*, (SELECT COUNT(*) FROM devices d WHERE d.user = u.user AND d.revoked_at IS NULL) AS device_count FROM users u';

  async getUser(user: UserId): Promise<UserRecord | undefined> {
    const r = this.stmt(`${SqliteStore.userQuery} WHERE u.user = ?`).get(user) as Row | undefined;
    return r ? userFromRow(r) : undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (this.stmt(`${SqliteStore.userQuery} ORDER BY u.user`).all() as Row[]).map((r) => userFromRow(r));
  }

  async enroll(input: EnrollInput): Promise<EnrollVerdict> {
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
  }

  async activationCodeHash(user: UserId): Promise<Uint8Array | undefined> {
    const r = this.stmt('SELECT code_hash FROM activation_codes WHERE user = ? AND used_at IS NULL').get(user) as Row | undefined;
    return r ? u8(r.code_hash) : undefined;
  }

  async countWrongActivation(user: UserId): Promise<void> {
    this.stmt('UPDATE activation_codes SET attempts = attempts + 1 WHERE user = ?').run(user);
  }

  private insertKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): void {
    const ins = this.stmt('INSERT OR IGNORE INTO key_packages (ref, device, data, last_resort) VALUES (?, ?, ?, ?)');
    for (const kp of kps) ins.run(kp.ref, device, kp.data, 0);
    if (lastResort) {
      this.stmt('DELETE FROM key_packages WHERE device = ? AND last_resort = 1').run(device);
      ins.run(lastResort.ref, device, lastResort.data, 1);
    }
  }


  async getDevice(device: DeviceId): Promise<DeviceRecord | undefined> {
    const r = this.stmt('SELECT * FROM devices WHERE id = ?').get(device) as Row | undefined;
    return r ? deviceFromRow(r) : undefined;
  }

  async listDevices(user: UserId): Promise<DeviceRecord[]> {
    return (this.stmt('SELECT * FROM devices WHERE user = ? ORDER BY created_at').all(user) as Row[]).map((r) => deviceFromRow(r));
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

  async claimKeyPackages(users: UserId[], exclude: DeviceId[], lastResortOnly: ReadonlySet<DeviceId> = new Set()): Promise<ClaimedKeyPackage[]> {
    const skip = new Set<string>(exclude);
    return this.db.transaction(() => {
      const out: ClaimedKeyPackage[] = [];
      const pick = this.stmt('SELECT ref, data, last_resort FROM key_packages WHERE device = ? ORDER BY last_resort, rowid LIMIT 1');
      const pickLastResort = this.stmt('SELECT ref, data, last_resort FROM key_packages WHERE device = ? AND last_resort = 1');
      const del = this.stmt('DELETE FROM key_packages WHERE ref = ?');
      for (const user of users) {
        for (const d of this.stmt('SELECT id FROM devices WHERE user = ? AND revoked_at IS NULL ORDER BY created_at').all(user) as Row[]) {
          const device = d.id as DeviceId;
          if (skip.has(device)) continue;
          const kp = (lastResortOnly.has(device) ? pickLastResort : pick).get(device) as Row | undefined;
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

  async getSession(tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId; expiresAt: number } | undefined> {
    const r = this.stmt(
        `SELECT s.device, d.user, s.expires_at FROM sessions s JOIN devices d ON d.id = s.device JOIN users u ON u.user = d.user
         WHERE s.token_hash = ? AND s.expires_at > ? AND u.status = 'active' AND d.revoked_at IS NULL`,
      )
      .get(tokenHash, now) as Row | undefined;
    return r ? { device: r.device as DeviceId, user: r.user as UserId, expiresAt: Number(r.expires_at) } : undefined;
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
    const msg = this.stmt(
        'INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(input.conversation, kind, input.epoch, input.id, input.sender.device, input.sender.user, input.now, payload);
    const ins = this.stmt('INSERT INTO queue (device, message) VALUES (?, ?)');
    return recipients.map((device) => {
      const seq = Number(ins.run(device, msg.lastInsertRowid).lastInsertRowid);
      return { device, item: queueItemOf(input, kind, payload, seq) };
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
    if (batch.length === 0) return; // emptied by close()
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
    // The conversation's epoch, the sender's membership and whether the message is a retry, in one statement.
    const check = this.stmt(
      `SELECT epoch,
         EXISTS (SELECT 1 FROM conversation_members WHERE conversation = c.id AND device = ?) AS member,
         EXISTS (SELECT 1 FROM messages WHERE conversation = c.id AND kind = 'app' AND msg_id = ?) AS stored
       FROM conversations c WHERE c.id = ?`,
    ).get(input.sender.device, input.id, input.conversation) as { epoch: number; member: number; stored: number } | undefined;
    if (!check) return { kind: 'not-found' };
    if (!check.member) return { kind: 'not-member' };
    // A retry of a message we already stored is acknowledged again, not stored twice.
    if (check.stored) return { kind: 'ok', epoch: check.epoch, deliveries: [], duplicate: true };
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
      const prior = this.stmt('SELECT commit_id FROM conversation_epochs WHERE conversation = ? AND epoch = ?')
        .get(input.conversation, input.epoch) as Row | undefined;
      const members = new Set(this.membersSync(input.conversation));
      const state = this.stmt('SELECT revoked_at FROM devices WHERE id = ?');
      const devices = new Map<DeviceId, 'active' | 'revoked'>();
      for (const d of devicesNamed(input)) {
        const r = state.get(d) as Row | undefined;
        if (r) devices.set(d, r.revoked_at === null ? 'active' : 'revoked');
      }
      const decision = decideCommit(input, { epoch: check.epoch, acceptedAtEpoch: prior?.commit_id as string | undefined, members, devices });
      if (decision.kind !== 'accept') return decision;

      this.stmt('INSERT INTO conversation_epochs (conversation, epoch, commit_id, sender, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(input.conversation, input.epoch, input.id, input.sender.device, input.now);
      this.stmt('UPDATE conversations SET epoch = ? WHERE id = ?').run(input.epoch + 1, input.conversation);
      // Everyone who was a member sees the commit — removed devices too, so they learn they were removed.
      const deliveries = this.enqueue(input, 'commit', input.payload, decision.recipients);
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

  async fetchQueue(device: DeviceId, after: number, limit: number, through = Number.MAX_SAFE_INTEGER): Promise<QueueItem[]> {
    const rows = this.stmt(
        `SELECT q.seq, m.conversation, m.kind, m.epoch, m.msg_id, m.sender_device, m.sender_user, m.created_at, m.payload
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = ? AND q.seq > ? AND q.seq <= ? ORDER BY q.seq LIMIT ?`,
      )
      .all(device, after, through, limit) as Row[];
    return rows.map(queueItemFromRow);
  }

  async listQueue(device: DeviceId, after: number, limit: number): Promise<QueueEntry[]> {
    const rows = this.stmt(
      `SELECT q.seq, m.conversation, m.kind, m.sender_user, m.created_at, length(m.payload) AS bytes
       FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = ? AND q.seq > ? ORDER BY q.seq LIMIT ?`,
    ).all(device, after, limit) as Row[];
    return rows.map(queueEntryFromRow);
  }

  async createBlob(blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'> {
    return this.db.transaction((): 'ok' | 'quota' => {
      const used = (this.stmt('SELECT COALESCE(SUM(size), 0) AS n FROM blobs b WHERE b.owner_user = ? AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)').get(blob.ownerUser) as Row).n as number;
      if (used + blob.size > quotaBytes) return 'quota';
      this.stmt('INSERT INTO blobs (id, owner_user, owner_device, size, created_at) VALUES (?, ?, ?, ?, ?)')
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
    return (this.stmt('SELECT COALESCE(SUM(size), 0) AS n FROM blobs b WHERE b.owner_user = ? AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)').get(user) as Row).n as number;
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
    // Only the device's own items; each message goes with its last queue row.
    const del = this.stmt('DELETE FROM queue WHERE seq = ? AND device = ? RETURNING message');
    const gc = this.stmt('DELETE FROM messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue WHERE message = ?)');
    let n = 0;
    for (const seq of seqs) {
      const row = del.get(seq, device) as Row | undefined;
      if (!row) continue;
      gc.run(row.message, row.message);
      n++;
    }
    return n;
  }


  // ---- devices and administration -------------------------------------------------------------------------

  private recordListVersion(user: UserId, list: StoredDeviceList): void {
    this.stmt('INSERT OR REPLACE INTO device_list_versions (user, version, body, signature) VALUES (?, ?, ?, ?)').run(user, list.version, list.body, list.signature);
    this.markKtPending(user);
  }

  /** The user's account record changed: the next key-transparency epoch publishes it. */
  private markKtPending(user: UserId): void {
    this.stmt('INSERT INTO kt_pending (user, seq) VALUES (?, 1) ON CONFLICT(user) DO UPDATE SET seq = seq + 1').run(user);
  }

  async deviceListHistory(user: UserId, limit: number): Promise<{ body: Uint8Array; signature: Uint8Array }[]> {
    return (this.stmt('SELECT body, signature FROM device_list_versions WHERE user = ? ORDER BY version DESC LIMIT ?').all(user, limit) as Row[]).map((r) => ({
      body: u8(r.body),
      signature: u8(r.signature),
    }));
  }

  async setUserStatus(user: UserId, status: UserRecord['status']): Promise<boolean> {
    return this.stmt('UPDATE users SET status = ? WHERE user = ?').run(status, user).changes === 1;
  }

  /** Inside a transaction: revoke one device and queue its removal notice to the rest of its conversations. */
  private revokeOne(user: UserId, r: Revocation, now: number): Delivery {
    this.stmt('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user = ?').run(now, r.device, user);
    this.stmt('DELETE FROM sessions WHERE device = ?').run(r.device);
    this.stmt('DELETE FROM key_packages WHERE device = ?').run(r.device);
    this.stmt('DELETE FROM device_presence WHERE device = ?').run(r.device);
    const queued = (this.stmt('SELECT seq FROM queue WHERE device = ?').all(r.device) as Row[]).map((q) => q.seq as number);
    this.ackOne(r.device, queued);
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
  }

  async resetUser(user: UserId, revocations: Revocation[], activation: { codeHash: Uint8Array; expiresAt: number }, now: number): Promise<Delivery> {
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
  }

  async revokeDevices(user: UserId, revocations: Revocation[], now: number, deviceList?: StoredDeviceList): Promise<Delivery | 'list-changed'> {
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
  }

  async createLink(link: LinkRecord, maxPending: number): Promise<boolean> {
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
  }

  async getLink(codeHash: Uint8Array): Promise<LinkRecord | undefined> {
    const r = this.stmt('SELECT * FROM device_links WHERE code_hash = ?').get(codeHash) as Row | undefined;
    return r ? linkFromRow(r) : undefined;
  }

  async approveLink(input: { codeHash: Uint8Array; deviceList: StoredDeviceList; sealed: Uint8Array; maxDevices: number; now: number }): Promise<LinkApproveVerdict> {
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
  }

  async deleteExpiredLinks(now: number): Promise<void> {
    this.stmt('DELETE FROM device_links WHERE expires_at <= ?').run(now);
  }

  async putWipe(w: WipeRecord): Promise<void> {
    this.stmt('INSERT OR REPLACE INTO wipes (device, command, signature, issued_at, confirmed_at) VALUES (?, ?, ?, ?, NULL)').run(w.device, w.command, w.signature, w.issuedAt);
  }

  async getWipe(device: DeviceId): Promise<WipeRecord | undefined> {
    const r = this.stmt('SELECT * FROM wipes WHERE device = ?').get(device) as Row | undefined;
    if (!r) return undefined;
    return { device, command: u8(r.command), signature: u8(r.signature), issuedAt: r.issued_at as number, confirmedAt: (r.confirmed_at as number | null) ?? undefined };
  }

  async confirmWipe(device: DeviceId, now: number): Promise<void> {
    this.stmt('UPDATE wipes SET confirmed_at = COALESCE(confirmed_at, ?) WHERE device = ?').run(now, device);
  }

  async addAdminToken(name: string, tokenHash: Uint8Array, now: number): Promise<boolean> {
    return this.stmt('INSERT OR IGNORE INTO admin_tokens (name, token_hash, created_at) VALUES (?, ?, ?)').run(name, tokenHash, now).changes === 1;
  }

  async findAdminToken(tokenHash: Uint8Array): Promise<string | undefined> {
    const r = this.stmt('SELECT name FROM admin_tokens WHERE token_hash = ? AND revoked_at IS NULL').get(tokenHash) as Row | undefined;
    return r?.name as string | undefined;
  }

  async listAdminTokens(): Promise<AdminTokenRecord[]> {
    return (this.stmt('SELECT * FROM admin_tokens ORDER BY created_at, name').all() as Row[]).map((r) => ({
      name: r.name as string,
      createdAt: r.created_at as number,
      revokedAt: (r.revoked_at as number | null) ?? undefined,
    }));
  }

  async revokeAdminToken(name: string, now: number): Promise<boolean> {
    return this.stmt('UPDATE admin_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(now, name).changes === 1;
  }

  async appendAudit(entry: Omit<AuditFields, 'seq'>): Promise<AuditEntry> {
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
  }

  async listAudit(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return (this.stmt('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as Row[]).map(auditFromRow);
  }

  async lookupUser(user: UserId): Promise<UserLookup> {
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
    return {
      conversations: convs.map((c) => ({
        id: c.id as ConversationId,
        epoch: c.epoch as number,
        memberDevices: c.member_devices as number,
        storedMessages: c.stored_messages as number,
        storedBytes: c.stored_bytes as number,
      })),
      queuedItems: queued.n as number,
      queuedBytes: queued.bytes as number,
      blobs: blobs.n as number,
      blobBytes: blobs.bytes as number,
      activationCode: code ? { expiresAt: code.expires_at as number, usedAt: (code.used_at as number | null) ?? undefined, attempts: code.attempts as number } : undefined,
      deviceListVersion: (list?.version as number | undefined) ?? undefined,
    };
  }

  async deleteOlderThan(before: number): Promise<{ messages: number; blobs: BlobId[] }> {
    return this.db.transaction(() => {
      // Handshake messages (commits, Welcomes) are kept: a device that misses one could never catch up.
      this.stmt("DELETE FROM queue WHERE message IN (SELECT id FROM messages WHERE created_at < ? AND kind = 'app')").run(before);
      const messages = this.stmt("DELETE FROM messages WHERE created_at < ? AND kind = 'app'").run(before).changes;
      const blobs = (this.stmt('SELECT id FROM blobs WHERE complete = 1 AND completed_at < ?').all(before) as Row[]).map((r) => r.id as BlobId);
      const del = this.stmt('DELETE FROM blobs WHERE id = ?');
      for (const id of blobs) del.run(id);
      return { messages, blobs };
    })();
  }

  // ---- key transparency ----------------------------------------------------------------------------------

  async ktPending(limit: number, user?: UserId): Promise<KtPending[]> {
    const rows = (
      user
        ? this.stmt('SELECT p.user, p.seq, l.account_key, l.version, l.body FROM kt_pending p LEFT JOIN device_lists l ON l.user = p.user WHERE p.user = ?').all(user)
        : this.stmt('SELECT p.user, p.seq, l.account_key, l.version, l.body FROM kt_pending p LEFT JOIN device_lists l ON l.user = p.user ORDER BY p.user LIMIT ?').all(limit)
    ) as Row[];
    return rows.map(ktPendingFromRow);
  }

  async ktPublish(epoch: KtEpochRecord, updates: KtUpdateRecord[], done: { user: UserId; seq: number }[]): Promise<boolean> {
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
  }

  async ktEpochs(afterEpoch: number, limit: number): Promise<(KtEpochRecord & { updates: KtUpdateRecord[] })[]> {
    const epochs = this.stmt('SELECT * FROM kt_epochs WHERE epoch > ? ORDER BY epoch LIMIT ?').all(afterEpoch, limit) as Row[];
    const ups = this.stmt('SELECT * FROM kt_updates WHERE epoch = ? ORDER BY label, version');
    return epochs.map((e) => ({ ...ktEpochFromRow(e), updates: (ups.all(e.epoch) as Row[]).map(ktUpdateFromRow) }));
  }

  async ktPutNextIndexes(rows: KtNextIndex[]): Promise<void> {
    const put = this.stmt(
      'INSERT INTO kt_next_index (label, version, vrf_index) VALUES (?, ?, ?) ON CONFLICT(label) DO UPDATE SET version = excluded.version, vrf_index = excluded.vrf_index WHERE excluded.version > kt_next_index.version',
    );
    this.db.transaction(() => {
      for (const r of rows) put.run(r.label, r.version, r.index);
    })();
  }

  async ktNextIndexes(labels: string[]): Promise<KtNextIndex[]> {
    const get = this.stmt('SELECT label, version, vrf_index FROM kt_next_index WHERE label = ?');
    return labels.flatMap((l) => (get.all(l) as Row[]).map((r) => ({ label: r.label as string, version: r.version as number, index: u8(r.vrf_index) })));
  }

  async ktVersions(label: string, fromVersion: number, limit: number): Promise<KtUpdateRecord[]> {
    const rows = this.stmt('SELECT * FROM kt_updates WHERE label = ? AND version >= ? ORDER BY version LIMIT ?').all(label, fromVersion, limit) as Row[];
    return rows.map(ktUpdateFromRow);
  }
}
