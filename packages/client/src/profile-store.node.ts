// The device's local store in Node: one SQLite file in the profile folder (0600). It holds the device's private
// keys, MLS group state, message history, the outbox and which queue items were processed. A group's state is
// written in the same transaction as the message it belongs to. With a passphrase the whole file (and its WAL) is
// encrypted at rest (profile-encryption.node.ts). The schema is profile-migrations.node.ts; the contract it meets,
// profile-storage.ts.
import Database from 'better-sqlite3-multiple-ciphers';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { profileMigrations } from './profile-migrations.node.js';
import {
  KDF,
  PROFILE_FILES,
  applyKey,
  deriveKey,
  readKdf,
  readable,
  type KdfParams,
} from './profile-encryption.node.js';
import type {
  ConversationRow,
  HeldSend,
  KeyContest,
  MessageRow,
  OutboxRow,
  PendingCommitRow,
  ProfileStorage,
  UnreadableRecord,
} from './profile-storage.js';
import {
  SealpostError,
  bytesEqual,
  type BlobId,
  type ConversationId,
  type ConversationKind,
  type DeviceId,
  type MessageId,
  type UserId,
} from '@sealpost/protocol';

type Row = Record<string, unknown>;
const u8 = (b: unknown): Uint8Array => new Uint8Array(b as Buffer);


/** Random, so two processes saving the same conversation never produce the same tag for different states. */
function newVersionTag(): number {
  return Math.floor(Math.random() * 2 ** 52) + 1;
}

export class ProfileStore implements ProfileStorage {
  private constructor(
    readonly dir: string,
    private readonly db: Database.Database,
    /** Whether the store is encrypted with a passphrase. */
    readonly encrypted: boolean,
  ) {}

  // Prepared once, reused: preparing a statement costs more than running it (a bridge sync reads thousands of rows).
  private readonly statements = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  static exists(dir: string): boolean {
    return existsSync(join(resolve(dir), 'profile.db'));
  }

  /** Whether the profile in `dir` needs a passphrase to open. */
  static isEncrypted(dir: string): boolean {
    return readKdf(resolve(dir)) !== undefined;
  }

  /** Deletes a profile's files (a failed enrollment, a remote wipe). secure_delete already zeroed freed pages. */
  static erase(dir: string): void {
    for (const f of PROFILE_FILES) rmSync(join(resolve(dir), f), { force: true });
  }

  static open(dir: string, opts: { create: boolean; passphrase?: string }): ProfileStore {
    const abs = resolve(dir);
    const file = join(abs, 'profile.db');
    if (!opts.create && !existsSync(file)) {
      throw new SealpostError('NOT_ENROLLED', `no Sealpost profile in ${abs}; run \`sealpost enroll\` first`);
    }
    if (opts.create && existsSync(file)) throw new SealpostError('PROFILE_EXISTS', `a profile already exists in ${abs}`);
    mkdirSync(abs, { recursive: true, mode: 0o700 });
    let kdf = readKdf(abs);
    if (opts.create) {
      if (kdf) rmSync(join(abs, 'profile.key'));
      kdf = undefined;
      if (opts.passphrase) {
        kdf = { v: 1, kdf: 'scrypt', ...KDF, salt: randomBytes(16).toString('base64') };
        writeFileSync(join(abs, 'profile.key'), JSON.stringify(kdf), { mode: 0o600 });
      }
    } else if (kdf && !opts.passphrase) {
      throw new SealpostError('PASSPHRASE_REQUIRED', `the profile in ${abs} is encrypted; give its passphrase (SEALPOST_PASSPHRASE, or when asked)`);
    }
    let db = new Database(file);
    try {
      chmodSync(file, 0o600);
      if (kdf) applyKey(db, deriveKey(opts.passphrase!, kdf), 'key');
      if (!readable(db) && kdf && !opts.create) {
        // A passphrase change interrupted before the data was encrypted leaves a key file beside plain data.
        db.close();
        db = new Database(file);
        if (readable(db)) {
          rmSync(join(abs, 'profile.key'), { force: true });
          kdf = undefined;
        } else {
          throw new SealpostError('PASSPHRASE_WRONG', 'wrong passphrase for this profile');
        }
      } else if (!readable(db)) {
        throw new SealpostError('PASSPHRASE_WRONG', kdf ? 'wrong passphrase for this profile' : `${file} is encrypted (give its passphrase) or not a Sealpost profile`);
      }
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 15000');
      // Overwrite deleted content (old ratchet secrets, deleted messages) instead of leaving it in free pages.
      db.pragma('secure_delete = ON');
      const version = db.pragma('user_version', { simple: true }) as number;
      for (let v = version; v < profileMigrations.length; v++) {
        db.transaction(() => {
          db.exec(profileMigrations[v]!);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } catch (err) {
      db.close();
      throw err;
    }
    return new ProfileStore(abs, db, kdf !== undefined);
  }

  /**
   * Set or change the passphrase (the whole file is re-encrypted under the new key; with `undefined`, decrypted).
   * Needs the store to itself: another process using the profile makes it fail with PROFILE_LOCKED.
   */
  changePassphrase(next: string | undefined): void {
    const keyFile = join(this.dir, 'profile.key');
    // The salt stays when there is one, so the key file never has to change together with the data.
    const kdf: KdfParams | undefined = next ? (readKdf(this.dir) ?? { v: 1, kdf: 'scrypt', ...KDF, salt: randomBytes(16).toString('base64') }) : undefined;
    const key = kdf ? deriveKey(next!, kdf) : undefined;
    try {
      // SQLite3 Multiple Ciphers rekeys only outside WAL mode.
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.pragma('journal_mode = DELETE');
    } catch (err) {
      throw new SealpostError('PROFILE_LOCKED', `the profile is in use by another process (${(err as Error).message})`);
    }
    // Order matters for a crash: the key file exists whenever the data may be encrypted; `open` copes with a key
    // file beside data that is still plain.
    if (kdf && key) {
      writeFileSync(keyFile, JSON.stringify(kdf), { mode: 0o600 });
      applyKey(this.db, key, 'rekey');
    } else {
      this.db.pragma("rekey = ''");
      rmSync(keyFile, { force: true });
    }
    this.db.pragma('journal_mode = WAL');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Close and delete everything in this profile (a wipe). */
  erase(): void {
    const dir = this.dir;
    this.close();
    ProfileStore.erase(dir);
  }

  // ---- transactions ------------------------------------------------------------------------------------------
  private depth = 0;

  /**
   * Run `fn` holding the profile's write lock (SQLite BEGIN IMMEDIATE): other processes using the same profile wait.
   * The in-process caller (SealpostClient) serialises its own operations, so there is no nesting across awaits.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) return fn();
    this.db.exec('BEGIN IMMEDIATE');
    this.depth++;
    try {
      const out = await fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.depth--;
    }
  }

  // ---- meta --------------------------------------------------------------------------------------------------
  getMeta(key: string): Uint8Array | undefined {
    const r = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return r ? u8(r.value) : undefined;
  }
  getMetaText(key: string): string | undefined {
    const v = this.getMeta(key);
    return v ? Buffer.from(v).toString('utf8') : undefined;
  }
  setMeta(key: string, value: Uint8Array | string): void {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, v);
  }

  /** Whether the queue item with this seq was processed (its effects are stored), whether or not it was acked. */
  wasProcessed(seq: number): boolean {
    // The floor (the mark of a profile from before migration 6) never changes after the migration.
    this.processedFloor ??= Number(this.getMetaText('processed_floor') ?? 0);
    if (seq <= this.processedFloor) return true;
    return this.stmt('SELECT 1 FROM processed_seqs WHERE seq = ?').get(seq) !== undefined;
  }
  private processedFloor: number | undefined;
  /** Record, in the caller's transaction, that the item with this seq was processed. */
  markProcessed(seq: number): void {
    this.stmt('INSERT OR IGNORE INTO processed_seqs (seq) VALUES (?)').run(seq);
  }
  /**
   * Forget processed seqs that are no longer in the server's queue (`queued`: every seq a complete fetch just
   * returned): they were acked and deleted there, and seqs are never reused, so they cannot come again.
   */
  forgetProcessedExcept(queued: Set<number>): void {
    const seqs = (this.stmt('SELECT seq FROM processed_seqs').pluck().all() as number[]).filter((s) => !queued.has(s));
    const del = this.stmt('DELETE FROM processed_seqs WHERE seq = ?');
    this.db.transaction(() => {
      for (const s of seqs) del.run(s);
    })();
  }
  processedCount(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM processed_seqs').get() as Row).n as number;
  }

  // ---- key packages ------------------------------------------------------------------------------------------
  addKeyPackage(ref: string, pub: Uint8Array, priv: Uint8Array, lastResort: boolean): void {
    if (lastResort) this.stmt('DELETE FROM key_packages WHERE last_resort = 1').run();
    this.stmt('INSERT INTO key_packages (ref, public, private, last_resort) VALUES (?, ?, ?, ?)').run(ref, pub, priv, lastResort ? 1 : 0);
  }
  getKeyPackage(ref: string): { publicBytes: Uint8Array; privateBytes: Uint8Array; lastResort: boolean } | undefined {
    const r = this.stmt('SELECT * FROM key_packages WHERE ref = ?').get(ref) as Row | undefined;
    return r ? { publicBytes: u8(r.public), privateBytes: u8(r.private), lastResort: r.last_resort === 1 } : undefined;
  }
  deleteKeyPackage(ref: string): void {
    this.stmt('DELETE FROM key_packages WHERE ref = ? AND last_resort = 0').run(ref);
  }

  // ---- conversations -----------------------------------------------------------------------------------------
  private convFromRow(r: Row): ConversationRow {
    return {
      id: r.id as ConversationId,
      kind: r.kind as ConversationKind,
      status: r.status as ConversationRow['status'],
      epoch: r.epoch as number,
      members: JSON.parse(r.members as string) as UserId[],
      stateFormat: r.state_format as ConversationRow['stateFormat'],
      version: r.version as number,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    };
  }
  secretNodes(conversation: ConversationId): Uint8Array[] {
    return (this.stmt('SELECT data FROM secret_nodes WHERE conversation = ? ORDER BY idx').all(conversation) as Row[]).map((r) => u8(r.data));
  }
  /** Replace the whole secret tree of a conversation. */
  putSecretNodes(conversation: ConversationId, nodes: Uint8Array[]): void {
    this.stmt('DELETE FROM secret_nodes WHERE conversation = ?').run(conversation);
    const ins = this.stmt('INSERT INTO secret_nodes (conversation, idx, data) VALUES (?, ?, ?)');
    nodes.forEach((data, idx) => ins.run(conversation, idx, data));
  }
  /** Overwrite some secret-tree nodes and set a new version tag, in the caller's transaction. */
  updateSecretNodes(conversation: ConversationId, changed: { index: number; bytes: Uint8Array }[], now: number): number {
    const upd = this.stmt('UPDATE secret_nodes SET data = ? WHERE conversation = ? AND idx = ?');
    for (const c of changed) upd.run(c.bytes, conversation, c.index);
    const version = newVersionTag();
    this.stmt('UPDATE conversations SET version = ?, updated_at = ? WHERE id = ?').run(version, now, conversation);
    return version;
  }
  // The state blob (megabytes in a large group) is read only when a process has no current decoded copy.
  private static readonly convColumns = 'id, kind, status, epoch, members, state_format, version, created_at, updated_at';
  getConversation(id: ConversationId): ConversationRow | undefined {
    const r = this.stmt(`SELECT ${ProfileStore.convColumns} FROM conversations WHERE id = ?`).get(id) as Row | undefined;
    return r ? this.convFromRow(r) : undefined;
  }
  listConversations(): ConversationRow[] {
    return (this.stmt(`SELECT ${ProfileStore.convColumns} FROM conversations ORDER BY created_at, id`).all() as Row[]).map((r) =>
      this.convFromRow(r),
    );
  }
  conversationState(id: ConversationId): Uint8Array {
    return u8((this.stmt('SELECT state FROM conversations WHERE id = ?').get(id) as Row).state);
  }
  /** Insert or replace a conversation with its state; returns the new version tag. */
  putConversation(c: Omit<ConversationRow, 'createdAt' | 'version'> & { state: Uint8Array; createdAt?: number }): number {
    const version = newVersionTag();
    this.db
      .prepare(
        `INSERT INTO conversations (id, kind, status, epoch, members, state, state_format, version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, status = excluded.status, epoch = excluded.epoch,
           members = excluded.members, state = excluded.state, state_format = excluded.state_format,
           version = excluded.version, updated_at = excluded.updated_at`,
      )
      .run(c.id, c.kind, c.status, c.epoch, JSON.stringify(c.members), c.state, c.stateFormat, version, c.createdAt ?? c.updatedAt, c.updatedAt);
    return version;
  }

  // ---- messages ----------------------------------------------------------------------------------------------
  /**
   * Stores a message; `seen: false` marks a received one for the next sync/watch output.
   * Returns false if a message with this id is already stored in the conversation (a retry or a replay).
   */
  addMessage(m: MessageRow, seen = true): boolean {
    const res = this.db
      .prepare(
        `INSERT OR IGNORE INTO messages (conversation, id, sender_user, sender_device, sent_at, received_at, direction, content, seen, kind, read)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        m.conversation, m.id, m.senderUser, m.senderDevice, m.sentAt, m.receivedAt, m.direction, JSON.stringify(m.content),
        seen ? 1 : 0, m.kind ?? 'text', m.read === false ? 0 : 1,
      );
    if (res.changes !== 1) return false;
    const files = (m.content.attachments ?? []) as { id: string }[];
    const ins = this.stmt('INSERT OR IGNORE INTO attachments (id, conversation, message, ref) VALUES (?, ?, ?, ?)');
    for (const f of files) ins.run(f.id, m.conversation, m.id, JSON.stringify(f));
    return true;
  }

  /** Received messages not shown yet, in arrival order; marks them shown. */
  takeUnseen(): MessageRow[] {
    return this.db.transaction(() => {
      const rows = this.stmt('SELECT * FROM messages WHERE seen = 0 ORDER BY received_at, rowid').all() as Row[];
      const out = rows.map((r) => this.messageFromRow(r));
      this.stmt('UPDATE messages SET seen = 1 WHERE seen = 0').run();
      return out;
    })();
  }

  private messageFromRow(r: Row): MessageRow {
    return {
      conversation: r.conversation as ConversationId,
      id: r.id as MessageId,
      senderUser: r.sender_user as UserId,
      senderDevice: r.sender_device as DeviceId,
      sentAt: r.sent_at as number,
      receivedAt: r.received_at as number,
      direction: r.direction as MessageRow['direction'],
      content: JSON.parse(r.content as string) as Record<string, unknown>,
      kind: r.kind as MessageRow['kind'],
      read: r.read === 1,
    };
  }

  listMail(): MessageRow[] {
    return (this.stmt("SELECT * FROM messages WHERE kind = 'mail' ORDER BY sent_at, rowid").all() as Row[]).map((r) => this.messageFromRow(r));
  }
  findMail(id: MessageId): MessageRow | undefined {
    const r = this.stmt("SELECT * FROM messages WHERE kind = 'mail' AND id = ?").get(id) as Row | undefined;
    return r ? this.messageFromRow(r) : undefined;
  }
  markRead(conversation: ConversationId, id: MessageId): void {
    this.stmt('UPDATE messages SET read = 1 WHERE conversation = ? AND id = ?').run(conversation, id);
  }
  getMessage(conversation: ConversationId, id: MessageId): MessageRow | undefined {
    const r = this.stmt('SELECT * FROM messages WHERE conversation = ? AND id = ?').get(conversation, id) as Row | undefined;
    return r ? this.messageFromRow(r) : undefined;
  }
  /** Deletes a message; returns the blob ids no other stored message refers to any more. */
  deleteMessage(conversation: ConversationId, id: MessageId): string[] {
    return this.db.transaction(() => {
      const blobs = (this.stmt('SELECT id FROM attachments WHERE conversation = ? AND message = ?').all(conversation, id) as Row[]).map((r) => r.id as string);
      this.stmt('DELETE FROM attachments WHERE conversation = ? AND message = ?').run(conversation, id);
      this.stmt('DELETE FROM messages WHERE conversation = ? AND id = ?').run(conversation, id);
      return blobs.filter((b) => !this.stmt('SELECT 1 FROM attachments WHERE id = ?').get(b));
    })();
  }

  // ---- attachments and uploads -------------------------------------------------------------------------------
  findAttachment(id: string): Record<string, unknown> | undefined {
    const r = this.stmt('SELECT ref FROM attachments WHERE id = ? LIMIT 1').get(id) as Row | undefined;
    return r ? (JSON.parse(r.ref as string) as Record<string, unknown>) : undefined;
  }
  findUpload(path: string, size: number, mtime: number): { blob: BlobId; key: Uint8Array; chunkSize: number } | undefined {
    const r = this.stmt('SELECT * FROM uploads WHERE path = ? AND size = ? AND mtime = ?').get(path, size, mtime) as Row | undefined;
    return r ? { blob: r.blob as BlobId, key: u8(r.key), chunkSize: r.chunk_size as number } : undefined;
  }
  putUpload(path: string, size: number, mtime: number, blob: BlobId, key: Uint8Array, chunkSize: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO uploads (path, size, mtime, blob, key, chunk_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(path, size, mtime, blob, key, chunkSize, Date.now());
  }
  deleteUpload(blob: BlobId): void {
    this.stmt('DELETE FROM uploads WHERE blob = ?').run(blob);
  }
  listMessages(conversation?: ConversationId, limit = 1000): MessageRow[] {
    const rows = (
      conversation
        ? this.stmt('SELECT * FROM messages WHERE conversation = ? ORDER BY received_at, rowid LIMIT ?').all(conversation, limit)
        : this.stmt('SELECT * FROM messages ORDER BY received_at, rowid LIMIT ?').all(limit)
    ) as Row[];
    return rows.map((r) => this.messageFromRow(r));
  }

  // ---- outbox and pending commits ----------------------------------------------------------------------------
  addOutbox(o: Omit<OutboxRow, 'seq'>): void {
    this.db
      .prepare('INSERT INTO outbox (conversation, id, epoch, payload, plaintext, blobs) VALUES (?, ?, ?, ?, ?, ?)')
      .run(o.conversation, o.id, o.epoch, o.payload, o.plaintext, JSON.stringify(o.blobs));
  }
  listOutbox(): OutboxRow[] {
    return (this.stmt('SELECT * FROM outbox ORDER BY seq').all() as Row[]).map((r) => ({
      seq: r.seq as number,
      conversation: r.conversation as ConversationId,
      id: r.id as MessageId,
      epoch: r.epoch as number,
      payload: u8(r.payload),
      plaintext: u8(r.plaintext),
      blobs: JSON.parse(r.blobs as string) as BlobId[],
    }));
  }
  updateOutbox(seq: number, epoch: number, payload: Uint8Array): void {
    this.stmt('UPDATE outbox SET epoch = ?, payload = ? WHERE seq = ?').run(epoch, payload, seq);
  }
  deleteOutbox(seq: number): void {
    this.stmt('DELETE FROM outbox WHERE seq = ?').run(seq);
  }

  putPendingCommit(p: PendingCommitRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO pending_commits (conversation, id, epoch, commit_msg, welcome, adds, removes, new_state, new_members)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.conversation, p.id, p.epoch, p.commit, p.welcome ?? null, JSON.stringify(p.adds), JSON.stringify(p.removes), p.newState, JSON.stringify(p.newMembers));
  }
  listPendingCommits(): PendingCommitRow[] {
    return (this.stmt('SELECT * FROM pending_commits').all() as Row[]).map((r) => ({
      conversation: r.conversation as ConversationId,
      id: r.id as MessageId,
      epoch: r.epoch as number,
      commit: u8(r.commit_msg),
      welcome: r.welcome ? u8(r.welcome) : undefined,
      adds: JSON.parse(r.adds as string) as DeviceId[],
      removes: JSON.parse(r.removes as string) as DeviceId[],
      newState: u8(r.new_state),
      newMembers: JSON.parse(r.new_members as string) as UserId[],
    }));
  }
  deletePendingCommit(conversation: ConversationId): void {
    this.stmt('DELETE FROM pending_commits WHERE conversation = ?').run(conversation);
  }

  // ---- trust -------------------------------------------------------------------------------------------------
  getKnownUser(user: UserId): { accountKey: Uint8Array; version: number } | undefined {
    const r = this.stmt('SELECT account_key, version FROM known_users WHERE user = ?').get(user) as Row | undefined;
    return r ? { accountKey: u8(r.account_key), version: r.version as number } : undefined;
  }
  putKnownUser(user: UserId, accountKey: Uint8Array, version: number, now: number): void {
    this.db
      .prepare(
        `INSERT INTO known_users (user, account_key, version, first_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT(user) DO UPDATE SET version = MAX(version, excluded.version)`,
      )
      .run(user, accountKey, version, now);
  }

  /** The user's account key changed (an account reset): pin the new key and remember the change. */
  replaceKnownUser(user: UserId, accountKey: Uint8Array, version: number, now: number): void {
    const old = this.getKnownUser(user);
    if (old) this.stmt('INSERT INTO key_changes (user, old_key, new_key, at) VALUES (?, ?, ?, ?)').run(user, old.accountKey, accountKey, now);
    this.db
      .prepare(
        `INSERT INTO known_users (user, account_key, version, first_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT(user) DO UPDATE SET account_key = excluded.account_key, version = excluded.version`,
      )
      .run(user, accountKey, version, now);
  }
  keyChanges(user?: UserId): { user: UserId; oldKey: Uint8Array; newKey: Uint8Array; at: number }[] {
    const rows = (user
      ? this.stmt('SELECT * FROM key_changes WHERE user = ? ORDER BY at').all(user)
      : this.stmt('SELECT * FROM key_changes ORDER BY at').all()) as Row[];
    return rows.map((r) => ({ user: r.user as UserId, oldKey: u8(r.old_key), newKey: u8(r.new_key), at: r.at as number }));
  }

  // ---- own key updates ---------------------------------------------------------------------------------------
  /** When this device last committed its own fresh keys in the conversation (undefined: never since joining). */
  keyUpdatedAt(conversation: ConversationId): number | undefined {
    return (this.stmt('SELECT at FROM key_updates WHERE conversation = ?').pluck().get(conversation) as number | undefined) ?? undefined;
  }
  setKeyUpdatedAt(conversation: ConversationId, at: number): void {
    this.stmt('INSERT INTO key_updates (conversation, at) VALUES (?, ?) ON CONFLICT(conversation) DO UPDATE SET at = excluded.at').run(conversation, at);
  }

  // ---- items skipped as unreadable ---------------------------------------------------------------------------
  /** Keeps the newest 1,000: a sender who floods a device with garbage must not grow its store without bound. */
  recordUnreadable(r: UnreadableRecord): void {
    this.db
      .prepare('INSERT INTO unreadable_items (seq, conversation, kind, from_user, reason, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.seq ?? null, r.conversation ?? null, r.kind ?? null, r.fromUser ?? null, r.reason.slice(0, 500), r.at);
    this.stmt('DELETE FROM unreadable_items WHERE id <= (SELECT MAX(id) FROM unreadable_items) - 1000').run();
  }
  listUnreadable(): UnreadableRecord[] {
    return (this.stmt('SELECT * FROM unreadable_items ORDER BY id').all() as Row[]).map((r) => ({
      seq: (r.seq as number | null) ?? undefined,
      conversation: (r.conversation as ConversationId | null) ?? undefined,
      kind: (r.kind as string | null) ?? undefined,
      fromUser: (r.from_user as UserId | null) ?? undefined,
      reason: r.reason as string,
      at: r.at as number,
    }));
  }

  /** Account-key changes of contacts not acknowledged since (by verifying the new safety number). */
  unacknowledgedKeyChanges(): { user: UserId; at: number }[] {
    return this.db
      .prepare('SELECT c.user, MAX(c.at) AS at FROM key_changes c LEFT JOIN key_change_acks a ON a.user = c.user WHERE a.at IS NULL OR c.at > a.at GROUP BY c.user ORDER BY c.user')
      .all() as { user: UserId; at: number }[];
  }
  keyChangesAcknowledgedAt(user: UserId): number | undefined {
    return (this.stmt('SELECT at FROM key_change_acks WHERE user = ?').pluck().get(user) as number | undefined) ?? undefined;
  }
  acknowledgeKeyChanges(user: UserId, now: number): void {
    this.stmt('INSERT INTO key_change_acks (user, at) VALUES (?, ?) ON CONFLICT(user) DO UPDATE SET at = excluded.at').run(user, now);
  }

  // ---- contested key changes and the messages held for them ---------------------------------------------------
  getKeyContest(user: UserId): KeyContest | undefined {
    const r = this.stmt('SELECT * FROM key_contests WHERE user = ?').get(user) as Row | undefined;
    return r ? contestOf(r) : undefined;
  }
  listKeyContests(): KeyContest[] {
    return (this.stmt('SELECT * FROM key_contests ORDER BY user').all() as Row[]).map(contestOf);
  }
  /** Start a contest for this new key (a different key than the one contested before starts afresh). */
  startKeyContest(user: UserId, accountKey: Uint8Array, retiredAt: number, now: number): KeyContest {
    const before = this.getKeyContest(user);
    if (before && bytesEqual(before.accountKey, accountKey)) return before;
    this.db
      .prepare('INSERT OR REPLACE INTO key_contests (user, account_key, first_seen, retired_at, verified, refused) VALUES (?, ?, ?, ?, 0, NULL)')
      .run(user, accountKey, now, retiredAt);
    return this.getKeyContest(user)!;
  }
  verifyKeyContest(user: UserId): void {
    this.stmt('UPDATE key_contests SET verified = 1 WHERE user = ?').run(user);
  }
  refuseKeyContest(user: UserId, reason: string): void {
    this.stmt('UPDATE key_contests SET refused = ? WHERE user = ?').run(reason.slice(0, 500), user);
  }
  endKeyContest(user: UserId): void {
    this.stmt('DELETE FROM key_contests WHERE user = ?').run(user);
  }

  addHeldSend(h: Omit<HeldSend, 'discarded'>): void {
    this.stmt('INSERT INTO held_sends (id, users, request, created_at) VALUES (?, ?, ?, ?)').run(h.id, JSON.stringify(h.users), h.request, h.createdAt);
  }
  /** Messages still held, oldest first. */
  listHeldSends(): HeldSend[] {
    return (this.stmt('SELECT * FROM held_sends WHERE discarded IS NULL ORDER BY created_at, id').all() as Row[]).map(heldOf);
  }
  deleteHeldSend(id: string): void {
    this.stmt('DELETE FROM held_sends WHERE id = ?').run(id);
  }
  discardHeldSend(id: string, reason: string, now: number): void {
    this.stmt('UPDATE held_sends SET discarded = ?, discarded_at = ? WHERE id = ?').run(reason.slice(0, 500), now, id);
  }
  /** Discarded messages not yet reported to the user; each is reported once, then forgotten. */
  takeDiscardedSends(): HeldSend[] {
    const rows = (this.stmt('SELECT * FROM held_sends WHERE discarded IS NOT NULL ORDER BY discarded_at, id').all() as Row[]).map(heldOf);
    this.stmt('DELETE FROM held_sends WHERE discarded IS NOT NULL').run();
    return rows;
  }

  // ---- device removals and retention -------------------------------------------------------------------------
  addPendingRemoval(conversation: ConversationId, device: DeviceId): void {
    this.stmt('INSERT OR IGNORE INTO pending_removals (conversation, device) VALUES (?, ?)').run(conversation, device);
  }
  listPendingRemovals(): { conversation: ConversationId; device: DeviceId }[] {
    return this.stmt('SELECT conversation, device FROM pending_removals ORDER BY conversation').all() as { conversation: ConversationId; device: DeviceId }[];
  }
  deletePendingRemoval(conversation: ConversationId, device: DeviceId): void {
    this.stmt('DELETE FROM pending_removals WHERE conversation = ? AND device = ?').run(conversation, device);
  }
  /** Retention: deletes messages sent before `before`; returns the blob ids no remaining message refers to. */
  deleteMessagesBefore(before: number): string[] {
    return this.db.transaction(() => {
      const old = this.stmt('SELECT conversation, id FROM messages WHERE sent_at < ?').all(before) as Row[];
      const orphans = new Set<string>();
      for (const m of old) for (const b of this.deleteMessage(m.conversation as ConversationId, m.id as MessageId)) orphans.add(b);
      return [...orphans];
    })();
  }
  /** Recent messages, newest last, for bringing history to a newly linked device. */
  recentMessages(limit: number): MessageRow[] {
    const rows = this.stmt('SELECT * FROM (SELECT *, rowid AS r FROM messages ORDER BY sent_at DESC, rowid DESC LIMIT ?) ORDER BY sent_at, r').all(limit) as Row[];
    return rows.map((r) => this.messageFromRow(r));
  }
}

function contestOf(r: Row): KeyContest {
  return {
    user: r.user as UserId,
    accountKey: u8(r.account_key),
    firstSeen: r.first_seen as number,
    retiredAt: r.retired_at as number,
    verified: r.verified === 1,
    refused: (r.refused as string | null) ?? null,
  };
}

function heldOf(r: Row): HeldSend {
  return { id: r.id as string, users: JSON.parse(r.users as string) as UserId[], request: r.request as string, createdAt: r.created_at as number, discarded: (r.discarded as string | null) ?? null };
}

export type { ConversationRow, HeldSend, KeyContest, MessageRow, OutboxRow, PendingCommitRow, ProfileStorage, UnreadableRecord } from './profile-storage.js';
