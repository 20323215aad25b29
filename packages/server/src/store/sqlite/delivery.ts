// The SQLite store's delivery: conversations, members, the message log and per-device queues. Appends that arrive
// in one turn share one transaction (group commit); the rules they follow are delivery/append-rules.ts and
// delivery/commit-rules.ts.
import { type ConversationId, type DeviceId, type QueueItem, type SuiteName } from '@sealpost/protocol';
import { queueEntryFromRow, queueItemFromRow, queueItemOf, type Row } from '../rows.js';
import { decideAppend } from '../../delivery/append-rules.js';
import { decideCommit, devicesNamed } from '../../delivery/commit-rules.js';
import type { AppendInput, AppendResult, CommitInput, ConversationRecord, Delivery, QueueEntry, ServerStore } from '../store.js';
import type { SqliteInternals, Outcome } from './internals.js';
import { commitBatch, waitForCommit } from './group-commit.js';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteDelivery = {
  async createConversation(this: SqliteInternals, id: ConversationId, creator: DeviceId, now: number, suite?: SuiteName): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.stmt('SELECT 1 FROM conversations WHERE id = ?').get(id)) return false;
      this.stmt('INSERT INTO conversations (id, epoch, created_at, suite) VALUES (?, 0, ?, ?)').run(id, now, suite ?? null);
      this.stmt('INSERT INTO conversation_members (conversation, device) VALUES (?, ?)').run(id, creator);
      return true;
    })();
  },

  async countConversationsBySuite(this: SqliteInternals): Promise<Record<SuiteName | 'unknown', number>> {
    const out: Record<SuiteName | 'unknown', number> = { classic: 0, 'pq-hybrid': 0, unknown: 0 };
    for (const r of this.stmt('SELECT suite, COUNT(*) AS n FROM conversations GROUP BY suite').all() as Row[]) {
      const k = (r.suite ?? 'unknown') as SuiteName | 'unknown';
      if (k in out) out[k] += r.n as number;
    }
    return out;
  },

  membersSync(this: SqliteInternals, id: ConversationId): DeviceId[] {
    return (this.stmt('SELECT device FROM conversation_members WHERE conversation = ? ORDER BY device').all(id) as Row[]).map(
      (r) => r.device as DeviceId,
    );
  },

  async getConversation(this: SqliteInternals, id: ConversationId): Promise<ConversationRecord | undefined> {
    const r = this.stmt('SELECT epoch FROM conversations WHERE id = ?').get(id) as Row | undefined;
    return r ? { id, epoch: r.epoch as number, members: this.membersSync(id) } : undefined;
  },

  /** Inserts one message row; returns its id. */
  insertMessage(this: SqliteInternals, input: AppendInput, kind: QueueItem['k'], payload: Uint8Array): number | bigint {
    return this.stmt(
      'INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(input.conversation, kind, input.epoch, input.id, input.sender.device, input.sender.user, input.now, payload).lastInsertRowid;
  },

  /** Inserts one message row and a queue row per recipient; returns what to push. */
  enqueue(this: SqliteInternals, input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, recipients: DeviceId[]): Delivery {
    const message = this.insertMessage(input, kind, payload);
    const ins = this.stmt('INSERT INTO queue (device, message) VALUES (?, ?)');
    return recipients.map((device) => {
      const seq = Number(ins.run(device, message).lastInsertRowid);
      return { device, item: queueItemOf(input, kind, payload, seq) };
    });
  },

  /**
   * The same for an application message to every member but its sender: the queue rows made by one statement from
   * the member list (a conversation of 1,000 devices is one call into SQLite, not 1,000), seqs in the members' order.
   */
  enqueueToMembers(this: SqliteInternals, input: AppendInput): Delivery {
    const message = this.insertMessage(input, 'app', input.payload);
    const rows = this.stmt(
      'INSERT INTO queue (device, message) SELECT device, ? FROM conversation_members WHERE conversation = ? AND device <> ? ORDER BY device RETURNING seq, device',
    ).all(message, input.conversation, input.sender.device) as { seq: number; device: DeviceId }[];
    return rows.map((r) => ({ device: r.device, item: queueItemOf(input, 'app', input.payload, r.seq) }));
  },

  async appendNotice(this: SqliteInternals, input: Parameters<ServerStore['appendNotice']>[0]): Promise<Delivery> {
    return this.db.transaction((): Delivery => {
      const devices: DeviceId[] = [];
      const active = this.stmt('SELECT id FROM devices WHERE user = ? AND revoked_at IS NULL ORDER BY created_at, id');
      for (const u of input.users) devices.push(...(active.all(u) as Row[]).map((r) => r.id as DeviceId));
      if (devices.length === 0) return [];
      return this.enqueue({ conversation: input.conversation, sender: input.sender, epoch: 0, id: input.id, payload: input.payload, now: input.now }, input.kind, input.payload, devices);
    })();
  },

  async appendHoldNotices(this: SqliteInternals, input: Parameters<ServerStore['appendHoldNotices']>[0]): Promise<Delivery> {
    return this.db.transaction((): Delivery => {
      const convs = this.stmt(
        'SELECT DISTINCT m.conversation FROM conversation_members m JOIN devices d ON d.id = m.device WHERE d.user = ? ORDER BY m.conversation',
      ).all(input.user) as Row[];
      const deliveries: Delivery = [];
      for (const r of convs) {
        const conversation = r.conversation as ConversationId;
        const epoch = (this.stmt('SELECT epoch FROM conversations WHERE id = ?').get(conversation) as Row).epoch as number;
        const members = this.membersSync(conversation);
        if (members.length === 0) continue;
        deliveries.push(...this.enqueue({ conversation, sender: input.sender, epoch, id: input.id, payload: input.payload, now: input.now }, 'hold', input.payload, members));
      }
      return deliveries;
    })();
  },

  checkMember(this: SqliteInternals, conversation: ConversationId, device: DeviceId): { epoch: number } | AppendResult {
    const conv = this.stmt('SELECT epoch FROM conversations WHERE id = ?').get(conversation) as Row | undefined;
    if (!conv) return { kind: 'not-found' };
    if (!this.stmt('SELECT 1 FROM conversation_members WHERE conversation = ? AND device = ?').get(conversation, device)) {
      return { kind: 'not-member' };
    }
    return { epoch: conv.epoch as number };
  },

  /** Group commit (group-commit.ts): appends of one turn share one transaction; order is arrival order. */
  appendMessage(this: SqliteInternals, input: AppendInput): Promise<AppendResult> {
    return waitForCommit(this.pendingAppends, input, () => this.flushAppends());
  },

  flushAppends(this: SqliteInternals): void {
    commitBatch(this.pendingAppends, 1000, () => this.flushAppends(), (inputs) => {
      const outcomes: Outcome[] = [];
      this.appendBatchTx(inputs, outcomes);
      return outcomes;
    });
  },

  // better-sqlite3 prepares BEGIN/COMMIT when a transaction function is made, so hot ones are made once.
  appendOne(this: SqliteInternals, input: AppendInput): AppendResult {
    // The conversation's epoch, the sender's membership and whether the message is a retry, in one statement.
    const check = this.stmt(
      `SELECT epoch,
         EXISTS (SELECT 1 FROM conversation_members WHERE conversation = c.id AND device = ?) AS member,
         EXISTS (SELECT 1 FROM messages WHERE conversation = c.id AND kind = 'app' AND msg_id = ?) AS stored
       FROM conversations c WHERE c.id = ?`,
    ).get(input.sender.device, input.id, input.conversation) as { epoch: number; member: number; stored: number } | undefined;
    const blobs = input.blobs ?? [];
    const usable = this.stmt('SELECT 1 FROM blobs b JOIN blob_grants g ON g.blob = b.id WHERE b.id = ? AND b.complete = 1 AND g.device = ?');
    const decision = decideAppend(input, {
      epoch: check?.epoch,
      member: Boolean(check?.member),
      stored: Boolean(check?.stored),
      unusableBlob: blobs.find((blob) => !usable.get(blob, input.sender.device)),
    });
    if (decision.kind !== 'accept') return decision;
    const deliveries = this.enqueueToMembers(input);
    const grant = this.stmt('INSERT OR IGNORE INTO blob_grants (blob, device) VALUES (?, ?)');
    for (const blob of blobs) for (const d of deliveries) grant.run(blob, d.device);
    return { kind: 'ok', epoch: decision.epoch, deliveries, duplicate: false };
  },

  async appendCommit(this: SqliteInternals, input: CommitInput): Promise<AppendResult> {
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
  },

  async fetchQueue(this: SqliteInternals, device: DeviceId, after: number, limit: number, through = Number.MAX_SAFE_INTEGER): Promise<QueueItem[]> {
    const rows = this.stmt(
        `SELECT q.seq, m.conversation, m.kind, m.epoch, m.msg_id, m.sender_device, m.sender_user, m.created_at, m.payload
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = ? AND q.seq > ? AND q.seq <= ? ORDER BY q.seq LIMIT ?`,
      )
      .all(device, after, through, limit) as Row[];
    return rows.map(queueItemFromRow);
  },

  async listQueue(this: SqliteInternals, device: DeviceId, after: number, limit: number): Promise<QueueEntry[]> {
    const rows = this.stmt(
      `SELECT q.seq, m.conversation, m.kind, m.sender_user, m.created_at, length(m.payload) AS bytes
       FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = ? AND q.seq > ? ORDER BY q.seq LIMIT ?`,
    ).all(device, after, limit) as Row[];
    return rows.map(queueEntryFromRow);
  },

  async queueDepth(this: SqliteInternals): Promise<number> {
    return (this.stmt('SELECT COUNT(*) AS n FROM queue').get() as Row).n as number;
  },

  async advanceQueueSeq(this: SqliteInternals, min: number): Promise<void> {
    this.db.transaction(() => {
      const cur = this.stmt("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").get() as Row | undefined;
      if (!cur) this.stmt("INSERT INTO sqlite_sequence (name, seq) VALUES ('queue', ?)").run(min);
      else if ((cur.seq as number) < min) this.stmt("UPDATE sqlite_sequence SET seq = ? WHERE name = 'queue'").run(min);
    })();
  },

  async blobTotals(this: SqliteInternals): Promise<{ count: number; bytes: number }> {
    const r = this.stmt('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM blobs').get() as Row;
    return { count: r.n as number, bytes: r.b as number };
  },

  /** Acks that arrive in the same turn of the event loop share one transaction, like appends. */
  ack(this: SqliteInternals, device: DeviceId, seqs: number[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ device, seqs, resolve, reject });
      if (this.pendingAcks.length === 1) setImmediate(() => this.flushAcks());
    });
  },

  flushAcks(this: SqliteInternals): void {
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
  },

  /**
   * One turn's acks (in ackBatchTx's transaction): only each device's own items are deleted; then each message whose
   * queue rows are all gone goes too — checked once per message, not once per ack (the members of a large
   * conversation ack the same message in the same turn).
   */
  ackBatch(this: SqliteInternals, batch: { device: DeviceId; seqs: number[] }[]): number[] {
    const del = this.stmt('DELETE FROM queue WHERE seq = ? AND device = ? RETURNING message');
    const gc = this.stmt('DELETE FROM messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue WHERE message = ?)');
    const touched = new Set<number>();
    const counts = batch.map(({ device, seqs }) => {
      let n = 0;
      for (const seq of seqs) {
        const row = del.get(seq, device) as Row | undefined;
        if (!row) continue;
        touched.add(row.message as number);
        n++;
      }
      return n;
    });
    for (const message of touched) gc.run(message, message);
    return counts;
  },
};
