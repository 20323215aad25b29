// The device's local store in a browser, meeting the same contract as the SQLite one (client/profile-storage.ts,
// checked by profile-storage.testkit.ts). The rows live in memory while the profile is open, so every read is
// synchronous as the contract wants; every change is written, encrypted, to IndexedDB (sealed-records.ts): a run of
// `exclusive` as one IndexedDB transaction when it ends (rolled back in memory when it fails), a change outside one
// in the next write. One tab at a time holds a profile (Web Locks): a second one gets PROFILE_LOCKED.
import {
  SealpostError,
  bytesEqual,
  type BlobId,
  type ConversationId,
  type DeviceId,
  type MessageId,
  type UserId,
} from '@sealpost/protocol';
import type {
  ConversationRow,
  HeldSend,
  KeyContest,
  MessageRow,
  OutboxRow,
  PendingCommitRow,
  ProfileStorage,
  UnreadableRecord,
} from '@sealpost/client/browser';
import { SealedRecords, type Change } from './sealed-records.js';

type Table =
  | 'meta' | 'processed' | 'keyPackages' | 'secretNodes' | 'conversations' | 'states' | 'messages' | 'uploads'
  | 'outbox' | 'pendingCommits' | 'knownUsers' | 'keyChanges' | 'keyUpdates' | 'unreadable' | 'keyChangeAcks'
  | 'keyContests' | 'heldSends' | 'pendingRemovals' | 'counters';

interface StoredMessage extends MessageRow {
  seen: boolean;
  /** Insertion order, as SQLite's rowid: ties in time keep the order messages arrived in. */
  row: number;
}
interface KnownUser {
  accountKey: Uint8Array;
  version: number;
  firstSeen: number;
}
interface KeyChange {
  user: UserId;
  oldKey: Uint8Array;
  newKey: Uint8Array;
  at: number;
  row: number;
}
interface StoredHeld extends HeldSend {
  discardedAt: number | null;
}
interface StoredUnreadable extends UnreadableRecord {
  row: number;
}

const MAX_UNREADABLE = 1000;
const KEY_SEP = '\u0000';

function newVersionTag(): number {
  return Math.floor(Math.random() * 2 ** 52) + 1;
}
const byTimeThenRow = (a: { receivedAt: number; row: number }, b: { receivedAt: number; row: number }) => a.receivedAt - b.receivedAt || a.row - b.row;

export class IdbProfileStore implements ProfileStorage {
  private readonly tables = new Map<Table, Map<string, unknown>>();
  /** Rows changed since the last write: table ␀ key → the value to store (undefined: delete). */
  private dirty = new Map<string, Change>();
  /** Inside `exclusive`: each changed row's value before the run, to put back when it fails. */
  private journal: Map<string, { table: Table; key: string; before: unknown }> | undefined;
  private depth = 0;
  /** The writes in flight, in order; `flush` waits for them. */
  private writing: Promise<void> = Promise.resolve();
  private writeError: unknown;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly records: SealedRecords,
    private readonly releaseLock: () => void,
  ) {}

  get encrypted(): boolean {
    return this.records.passphraseProtected;
  }

  static async open(profile: string, opts: { create: boolean; passphrase?: string }): Promise<IdbProfileStore> {
    const releaseLock = await holdProfileLock(profile);
    try {
      const { records, rows } = await SealedRecords.open(profile, opts);
      const store = new IdbProfileStore(profile, records, releaseLock);
      for (const r of rows) store.table(r.table as Table).set(r.key, r.value);
      return store;
    } catch (err) {
      releaseLock();
      throw err;
    }
  }

  static exists(profile: string): Promise<boolean> {
    return SealedRecords.exists(profile);
  }

  /** Every change so far is in IndexedDB (or the write's error is thrown). */
  async flush(): Promise<void> {
    this.startWrite();
    await this.writing;
    if (this.writeError) throw this.writeError;
  }

  /** Wait for the writes, then close; a wipe erases the database as well. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.startWrite();
    void this.writing.finally(() => {
      this.records.close();
      this.releaseLock();
    });
  }

  erase(): void {
    this.erased = this.eraseAsync();
  }
  /** Resolves when the database is deleted after `erase()`. */
  erased: Promise<void> | undefined;
  private async eraseAsync(): Promise<void> {
    this.dirty.clear();
    this.tables.clear();
    this.close();
    await this.writing.catch(() => {});
    await SealedRecords.erase(this.dir);
  }

  changePassphrase(next: string | undefined): void {
    this.startWrite();
    const rows: Change[] = [];
    for (const [table, rowsOf] of this.tables) for (const [key, value] of rowsOf) rows.push({ table, key, value });
    this.writing = this.writing.then(() => this.records.rekey(rows, next)).catch((err: unknown) => {
      this.writeError = err;
    });
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) return fn();
    this.depth++;
    this.journal = new Map();
    try {
      const out = await fn();
      this.journal = undefined;
      await this.flush();
      return out;
    } catch (err) {
      // Put every row back as it was before the run, and forget their pending writes.
      for (const [name, j] of this.journal ?? []) {
        if (j.before === undefined) this.table(j.table).delete(j.key);
        else this.table(j.table).set(j.key, j.before);
        this.dirty.delete(name);
      }
      this.journal = undefined;
      throw err;
    } finally {
      this.depth--;
    }
  }

  // ---- the rows in memory ------------------------------------------------------------------------------------
  private table(name: Table): Map<string, unknown> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }
  private get<T>(table: Table, key: string): T | undefined {
    return this.table(table).get(key) as T | undefined;
  }
  private all<T>(table: Table): T[] {
    return [...this.table(table).values()] as T[];
  }
  private put(table: Table, key: string, value: unknown): void {
    this.change(table, key, value);
  }
  private del(table: Table, key: string): void {
    if (this.table(table).has(key)) this.change(table, key, undefined);
  }
  private change(table: Table, key: string, value: unknown): void {
    if (this.closed) throw new SealpostError('INTERNAL', 'the browser profile is closed');
    const name = table + KEY_SEP + key;
    const t = this.table(table);
    if (this.journal && !this.journal.has(name)) this.journal.set(name, { table, key, before: t.get(key) });
    if (value === undefined) t.delete(key);
    else t.set(key, value);
    this.dirty.set(name, { table, key, value });
    // Outside a run of `exclusive`, the change is written on its own, right after the current task.
    if (!this.journal) queueMicrotask(() => this.startWrite());
  }
  private startWrite(): void {
    if (this.journal || this.dirty.size === 0) return;
    const changes = [...this.dirty.values()];
    this.dirty = new Map();
    this.writing = this.writing.then(() => this.records.write(changes)).catch((err: unknown) => {
      this.writeError = err;
    });
  }
  private nextCounter(name: string): number {
    const n = (this.get<number>('counters', name) ?? 0) + 1;
    this.put('counters', name, n);
    return n;
  }

  // ---- meta --------------------------------------------------------------------------------------------------
  getMeta(key: string): Uint8Array | undefined {
    return this.get<Uint8Array>('meta', key);
  }
  getMetaText(key: string): string | undefined {
    const v = this.getMeta(key);
    return v ? new TextDecoder().decode(v) : undefined;
  }
  setMeta(key: string, value: Uint8Array | string): void {
    this.put('meta', key, typeof value === 'string' ? new TextEncoder().encode(value) : value.slice());
  }

  wasProcessed(seq: number): boolean {
    return this.table('processed').has(String(seq));
  }
  markProcessed(seq: number): void {
    this.put('processed', String(seq), true);
  }
  forgetProcessedExcept(queued: Set<number>): void {
    for (const k of [...this.table('processed').keys()]) if (!queued.has(Number(k))) this.del('processed', k);
  }
  processedCount(): number {
    return this.table('processed').size;
  }

  // ---- key packages ------------------------------------------------------------------------------------------
  addKeyPackage(ref: string, pub: Uint8Array, priv: Uint8Array, lastResort: boolean): void {
    if (lastResort) {
      for (const [k, v] of [...this.table('keyPackages')]) if ((v as { lastResort: boolean }).lastResort) this.del('keyPackages', k);
    }
    this.put('keyPackages', ref, { publicBytes: pub, privateBytes: priv, lastResort });
  }
  getKeyPackage(ref: string): { publicBytes: Uint8Array; privateBytes: Uint8Array; lastResort: boolean } | undefined {
    return this.get('keyPackages', ref);
  }
  deleteKeyPackage(ref: string): void {
    const kp = this.getKeyPackage(ref);
    if (kp && !kp.lastResort) this.del('keyPackages', ref);
  }

  // ---- conversations -----------------------------------------------------------------------------------------
  secretNodes(conversation: ConversationId): Uint8Array[] {
    return [...(this.get<Uint8Array[]>('secretNodes', conversation) ?? [])];
  }
  putSecretNodes(conversation: ConversationId, nodes: Uint8Array[]): void {
    this.put('secretNodes', conversation, [...nodes]);
  }
  updateSecretNodes(conversation: ConversationId, changed: { index: number; bytes: Uint8Array }[], now: number): number {
    const nodes = this.secretNodes(conversation);
    for (const c of changed) if (c.index < nodes.length) nodes[c.index] = c.bytes;
    this.put('secretNodes', conversation, nodes);
    const version = newVersionTag();
    const conv = this.getConversation(conversation);
    if (conv) this.put('conversations', conversation, { ...conv, version, updatedAt: now });
    return version;
  }
  getConversation(id: ConversationId): ConversationRow | undefined {
    const c = this.get<ConversationRow>('conversations', id);
    return c ? { ...c, members: [...c.members] } : undefined;
  }
  listConversations(): ConversationRow[] {
    return this.all<ConversationRow>('conversations')
      .map((c) => ({ ...c, members: [...c.members] }))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  conversationState(id: ConversationId): Uint8Array {
    const s = this.get<Uint8Array>('states', id);
    if (!s) throw new SealpostError('INTERNAL', `no stored state for conversation ${id}`);
    return s;
  }
  putConversation(c: Omit<ConversationRow, 'createdAt' | 'version'> & { state: Uint8Array; createdAt?: number }): number {
    const version = newVersionTag();
    const before = this.get<ConversationRow>('conversations', c.id);
    const row: ConversationRow = {
      id: c.id,
      kind: c.kind,
      status: c.status,
      epoch: c.epoch,
      members: [...c.members],
      stateFormat: c.stateFormat,
      version,
      createdAt: before?.createdAt ?? c.createdAt ?? c.updatedAt,
      updatedAt: c.updatedAt,
    };
    this.put('conversations', c.id, row);
    this.put('states', c.id, c.state);
    return version;
  }

  // ---- messages ----------------------------------------------------------------------------------------------
  private messageKey(conversation: ConversationId, id: MessageId): string {
    return conversation + KEY_SEP + id;
  }
  private messages(): StoredMessage[] {
    return this.all<StoredMessage>('messages');
  }
  private row(m: StoredMessage): MessageRow {
    const { seen: _seen, row: _row, ...out } = m;
    return { ...out, kind: m.kind ?? 'text', read: m.read !== false };
  }
  addMessage(m: MessageRow, seen = true): boolean {
    const key = this.messageKey(m.conversation, m.id);
    if (this.table('messages').has(key)) return false;
    this.put('messages', key, { ...m, kind: m.kind ?? 'text', read: m.read !== false, seen, row: this.nextCounter('message') } satisfies StoredMessage);
    return true;
  }
  takeUnseen(): MessageRow[] {
    const unseen = this.messages().filter((m) => !m.seen).sort(byTimeThenRow);
    for (const m of unseen) this.put('messages', this.messageKey(m.conversation, m.id), { ...m, seen: true });
    return unseen.map((m) => this.row(m));
  }
  listMail(): MessageRow[] {
    return this.messages()
      .filter((m) => m.kind === 'mail')
      .sort((a, b) => a.sentAt - b.sentAt || a.row - b.row)
      .map((m) => this.row(m));
  }
  findMail(id: MessageId): MessageRow | undefined {
    const m = this.messages().find((x) => x.kind === 'mail' && x.id === id);
    return m ? this.row(m) : undefined;
  }
  markRead(conversation: ConversationId, id: MessageId): void {
    const key = this.messageKey(conversation, id);
    const m = this.get<StoredMessage>('messages', key);
    if (m && m.read === false) this.put('messages', key, { ...m, read: true });
  }
  getMessage(conversation: ConversationId, id: MessageId): MessageRow | undefined {
    const m = this.get<StoredMessage>('messages', this.messageKey(conversation, id));
    return m ? this.row(m) : undefined;
  }
  deleteMessage(conversation: ConversationId, id: MessageId): string[] {
    const key = this.messageKey(conversation, id);
    const m = this.get<StoredMessage>('messages', key);
    if (!m) return [];
    this.del('messages', key);
    const blobs = attachmentIds(m);
    const still = new Set(this.messages().flatMap(attachmentIds));
    return [...new Set(blobs)].filter((b) => !still.has(b));
  }
  findAttachment(id: string): Record<string, unknown> | undefined {
    for (const m of this.messages()) {
      const f = ((m.content.attachments ?? []) as Record<string, unknown>[]).find((a) => a.id === id);
      if (f) return f;
    }
    return undefined;
  }
  findUpload(path: string, size: number, mtime: number): { blob: BlobId; key: Uint8Array; chunkSize: number } | undefined {
    const u = this.all<{ path: string; size: number; mtime: number; blob: BlobId; key: Uint8Array; chunkSize: number }>('uploads').find(
      (x) => x.path === path && x.size === size && x.mtime === mtime,
    );
    return u ? { blob: u.blob, key: u.key, chunkSize: u.chunkSize } : undefined;
  }
  putUpload(path: string, size: number, mtime: number, blob: BlobId, key: Uint8Array, chunkSize: number): void {
    for (const [k, u] of [...this.table('uploads')]) {
      const x = u as { path: string; size: number; mtime: number };
      if (x.path === path && x.size === size && x.mtime === mtime) this.del('uploads', k);
    }
    this.put('uploads', blob, { path, size, mtime, blob, key, chunkSize, createdAt: Date.now() });
  }
  deleteUpload(blob: BlobId): void {
    this.del('uploads', blob);
  }
  listMessages(conversation?: ConversationId, limit = 1000): MessageRow[] {
    return this.messages()
      .filter((m) => conversation === undefined || m.conversation === conversation)
      .sort(byTimeThenRow)
      .slice(0, limit)
      .map((m) => this.row(m));
  }

  // ---- outbox and pending commits ----------------------------------------------------------------------------
  addOutbox(o: Omit<OutboxRow, 'seq'>): void {
    const seq = this.nextCounter('outbox');
    this.put('outbox', String(seq), { ...o, seq, blobs: [...o.blobs] });
  }
  listOutbox(): OutboxRow[] {
    return this.all<OutboxRow>('outbox').sort((a, b) => a.seq - b.seq);
  }
  updateOutbox(seq: number, epoch: number, payload: Uint8Array): void {
    const o = this.get<OutboxRow>('outbox', String(seq));
    if (o) this.put('outbox', String(seq), { ...o, epoch, payload });
  }
  deleteOutbox(seq: number): void {
    this.del('outbox', String(seq));
  }
  putPendingCommit(p: PendingCommitRow): void {
    this.put('pendingCommits', p.conversation, { ...p, welcome: p.welcome ?? null });
  }
  listPendingCommits(): PendingCommitRow[] {
    return this.all<PendingCommitRow & { welcome: Uint8Array | null }>('pendingCommits').map((p) => ({ ...p, welcome: p.welcome ?? undefined }));
  }
  deletePendingCommit(conversation: ConversationId): void {
    this.del('pendingCommits', conversation);
  }

  // ---- trust -------------------------------------------------------------------------------------------------
  getKnownUser(user: UserId): { accountKey: Uint8Array; version: number } | undefined {
    const k = this.get<KnownUser>('knownUsers', user);
    return k ? { accountKey: k.accountKey, version: k.version } : undefined;
  }
  putKnownUser(user: UserId, accountKey: Uint8Array, version: number, now: number): void {
    const k = this.get<KnownUser>('knownUsers', user);
    if (k) this.put('knownUsers', user, { ...k, version: Math.max(k.version, version) });
    else this.put('knownUsers', user, { accountKey, version, firstSeen: now });
  }
  replaceKnownUser(user: UserId, accountKey: Uint8Array, version: number, now: number): void {
    const old = this.get<KnownUser>('knownUsers', user);
    if (old) {
      const row = this.nextCounter('keyChange');
      this.put('keyChanges', String(row), { user, oldKey: old.accountKey, newKey: accountKey, at: now, row } satisfies KeyChange);
    }
    this.put('knownUsers', user, { accountKey, version, firstSeen: old?.firstSeen ?? now });
  }
  keyChanges(user?: UserId): { user: UserId; oldKey: Uint8Array; newKey: Uint8Array; at: number }[] {
    return this.all<KeyChange>('keyChanges')
      .filter((c) => user === undefined || c.user === user)
      .sort((a, b) => a.at - b.at || a.row - b.row)
      .map(({ user: u, oldKey, newKey, at }) => ({ user: u, oldKey, newKey, at }));
  }
  keyUpdatedAt(conversation: ConversationId): number | undefined {
    return this.get<number>('keyUpdates', conversation);
  }
  setKeyUpdatedAt(conversation: ConversationId, at: number): void {
    this.put('keyUpdates', conversation, at);
  }

  // ---- items skipped as unreadable ---------------------------------------------------------------------------
  recordUnreadable(r: UnreadableRecord): void {
    const row = this.nextCounter('unreadable');
    const rec: Record<string, unknown> = { reason: r.reason.slice(0, 500), at: r.at, row };
    if (r.seq !== undefined) rec.seq = r.seq;
    if (r.conversation !== undefined) rec.conversation = r.conversation;
    if (r.kind !== undefined) rec.kind = r.kind;
    if (r.fromUser !== undefined) rec.fromUser = r.fromUser;
    this.put('unreadable', String(row), rec);
    this.del('unreadable', String(row - MAX_UNREADABLE));
  }
  listUnreadable(): UnreadableRecord[] {
    return this.all<StoredUnreadable>('unreadable')
      .sort((a, b) => a.row - b.row)
      .map((u) => ({ seq: u.seq, conversation: u.conversation, kind: u.kind, fromUser: u.fromUser, reason: u.reason, at: u.at }));
  }

  unacknowledgedKeyChanges(): { user: UserId; at: number }[] {
    const latest = new Map<UserId, number>();
    for (const c of this.all<KeyChange>('keyChanges')) latest.set(c.user, Math.max(latest.get(c.user) ?? 0, c.at));
    return [...latest]
      .filter(([user, at]) => {
        const ack = this.keyChangesAcknowledgedAt(user);
        return ack === undefined || at > ack;
      })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([user, at]) => ({ user, at }));
  }
  keyChangesAcknowledgedAt(user: UserId): number | undefined {
    return this.get<number>('keyChangeAcks', user);
  }
  acknowledgeKeyChanges(user: UserId, now: number): void {
    this.put('keyChangeAcks', user, now);
  }

  // ---- contested key changes and held messages ---------------------------------------------------------------
  getKeyContest(user: UserId): KeyContest | undefined {
    const c = this.get<KeyContest>('keyContests', user);
    return c ? { ...c } : undefined;
  }
  listKeyContests(): KeyContest[] {
    return this.all<KeyContest>('keyContests')
      .map((c) => ({ ...c }))
      .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  }
  startKeyContest(user: UserId, accountKey: Uint8Array, retiredAt: number, now: number): KeyContest {
    const before = this.getKeyContest(user);
    if (before && bytesEqual(before.accountKey, accountKey)) return before;
    const c: KeyContest = { user, accountKey, firstSeen: now, retiredAt, verified: false, refused: null };
    this.put('keyContests', user, c);
    return { ...c };
  }
  verifyKeyContest(user: UserId): void {
    const c = this.getKeyContest(user);
    if (c) this.put('keyContests', user, { ...c, verified: true });
  }
  refuseKeyContest(user: UserId, reason: string): void {
    const c = this.getKeyContest(user);
    if (c) this.put('keyContests', user, { ...c, refused: reason.slice(0, 500) });
  }
  endKeyContest(user: UserId): void {
    this.del('keyContests', user);
  }
  addHeldSend(h: Omit<HeldSend, 'discarded'>): void {
    if (this.table('heldSends').has(h.id)) throw new SealpostError('INTERNAL', `held message ${h.id} exists`);
    this.put('heldSends', h.id, { ...h, users: [...h.users], discarded: null, discardedAt: null } satisfies StoredHeld);
  }
  listHeldSends(): HeldSend[] {
    return this.all<StoredHeld>('heldSends')
      .filter((h) => h.discarded === null)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
      .map(heldOf);
  }
  deleteHeldSend(id: string): void {
    this.del('heldSends', id);
  }
  discardHeldSend(id: string, reason: string, now: number): void {
    const h = this.get<StoredHeld>('heldSends', id);
    if (h) this.put('heldSends', id, { ...h, discarded: reason.slice(0, 500), discardedAt: now });
  }
  takeDiscardedSends(): HeldSend[] {
    const out = this.all<StoredHeld>('heldSends')
      .filter((h) => h.discarded !== null)
      .sort((a, b) => (a.discardedAt ?? 0) - (b.discardedAt ?? 0) || (a.id < b.id ? -1 : 1));
    for (const h of out) this.del('heldSends', h.id);
    return out.map(heldOf);
  }

  // ---- device removals and retention -------------------------------------------------------------------------
  addPendingRemoval(conversation: ConversationId, device: DeviceId): void {
    this.put('pendingRemovals', conversation + KEY_SEP + device, { conversation, device });
  }
  listPendingRemovals(): { conversation: ConversationId; device: DeviceId }[] {
    return this.all<{ conversation: ConversationId; device: DeviceId }>('pendingRemovals').sort((a, b) => (a.conversation < b.conversation ? -1 : a.conversation > b.conversation ? 1 : 0));
  }
  deletePendingRemoval(conversation: ConversationId, device: DeviceId): void {
    this.del('pendingRemovals', conversation + KEY_SEP + device);
  }
  deleteMessagesBefore(before: number): string[] {
    const orphans = new Set<string>();
    for (const m of this.messages().filter((x) => x.sentAt < before)) for (const b of this.deleteMessage(m.conversation, m.id)) orphans.add(b);
    return [...orphans];
  }
  recentMessages(limit: number): MessageRow[] {
    return this.messages()
      .sort((a, b) => b.sentAt - a.sentAt || b.row - a.row)
      .slice(0, limit)
      .reverse()
      .map((m) => this.row(m));
  }
}

function attachmentIds(m: MessageRow): string[] {
  return ((m.content.attachments ?? []) as { id: string }[]).map((a) => a.id);
}

function heldOf(h: StoredHeld): HeldSend {
  return { id: h.id, users: [...h.users], request: h.request, createdAt: h.createdAt, discarded: h.discarded };
}

/**
 * One tab at a time: the profile's rows are held in memory, so a second tab writing too would lose changes. Held
 * until the store closes; where Web Locks are missing (a test in Node), there is only one "tab".
 */
async function holdProfileLock(profile: string): Promise<() => void> {
  const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
  if (!locks) return () => {};
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const got = await new Promise<boolean>((resolve) => {
    void locks.request(`sealpost-profile:${profile}`, { ifAvailable: true }, async (lock) => {
      resolve(lock !== null);
      if (lock) await held;
    });
  });
  if (!got) throw new SealpostError('PROFILE_LOCKED', 'Sealpost is open in another tab of this browser; close it there to use it here');
  return release;
}
