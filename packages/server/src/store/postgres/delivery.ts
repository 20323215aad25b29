// The PostgreSQL store's delivery: conversations, members, the message log and per-device queues. The conversation row
// is the per-conversation lock across nodes; appends of one turn go in one statement when they can. The rules they
// follow are delivery/append-rules.ts and delivery/commit-rules.ts.
import pg from 'pg';
import { type BlobId, type ConversationId, type DeviceId, type QueueItem, type SuiteName } from '@sealpost/protocol';
import { queueEntryFromRow, queueItemFromRow, queueItemOf, type Row } from '../rows.js';
import { decideAppend } from '../../delivery/append-rules.js';
import { decideCommit, devicesNamed } from '../../delivery/commit-rules.js';
import type { AppendInput, AppendResult, CommitInput, ConversationRecord, Delivery, QueueEntry, ServerStore } from '../store.js';
import { buf, type Db } from './db.js';
import type { PostgresInternals } from './internals.js';

/**
 * The common case of application messages (sender a member, epoch current, not a duplicate, no blobs), for every
 * such message that arrived in one turn of the event loop, in one statement: one round trip and one commit for
 * the batch instead of eight round trips each. The batch's conversation rows are locked first, in id order (so
 * two nodes' batches cannot deadlock; FOR UPDATE waits for a concurrent commit and then re-reads the row), then
 * the senders' membership rows are share-locked, which re-reads them too: a device removed by a commit that
 * committed while the statement waited is not a member, as in the step-by-step transaction. Messages keep their arrival order. A message that fails a check is not inserted and takes the
 * step-by-step path, which gives its precise answer; so does the whole batch if the statement fails (e.g. one
 * message id twice in a batch).
 */
const batchAppend = `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[], $7::bytea[])
      WITH ORDINALITY AS i(conversation, device, msg_id, epoch, sender_user, created_at, payload, ord)
  ),
  conv AS (SELECT id, epoch FROM conversations WHERE id IN (SELECT conversation FROM input) ORDER BY id FOR UPDATE),
  mem AS (
    SELECT m.conversation, m.device FROM conversation_members m JOIN conv c ON c.id = m.conversation
    WHERE (m.conversation, m.device) IN (SELECT conversation, device FROM input)
    FOR SHARE OF m
  ),
  ok AS (
    SELECT i.* FROM input i JOIN conv c ON c.id = i.conversation AND c.epoch = i.epoch
    WHERE EXISTS (SELECT 1 FROM mem WHERE mem.conversation = i.conversation AND mem.device = i.device)
      AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.conversation = i.conversation AND x.kind = 'app' AND x.msg_id = i.msg_id)
  ),
  msg AS (
    INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload)
    SELECT conversation, 'app', epoch, msg_id, device, sender_user, created_at, payload FROM ok ORDER BY ord
    RETURNING id, conversation, msg_id, sender_device
  ),
  q AS (
    INSERT INTO queue (device, message)
    SELECT m.device, msg.id FROM msg JOIN conversation_members m ON m.conversation = msg.conversation AND m.device <> msg.sender_device
    ORDER BY msg.id, m.device
    RETURNING seq, device, message
  )
  SELECT msg.conversation, msg.msg_id,
    (SELECT COALESCE(json_agg(json_build_array(q.seq, q.device) ORDER BY q.seq), '[]'::json) FROM q WHERE q.message = msg.id) AS q
  FROM msg`;

/**
 * One statement: the acknowledged queue rows go (only a device's own), and each message no other queue row
 * refers to. (The statement's snapshot still shows the rows being deleted, so those are excluded by hand.)
 */
const ackBatch = `
  WITH acks AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS a(device, seq)),
  gone AS (
    DELETE FROM queue q USING acks a WHERE q.device = a.device AND q.seq = a.seq RETURNING q.message, q.device, q.seq
  ),
  dropped AS (
    DELETE FROM messages m WHERE m.id IN (SELECT message FROM gone)
      AND NOT EXISTS (
        SELECT 1 FROM queue q WHERE q.message = m.id
          AND NOT EXISTS (SELECT 1 FROM acks a WHERE a.device = q.device AND a.seq = q.seq)
      )
  )
  SELECT device, seq FROM gone`;

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresDelivery = {
  async createConversation(this: PostgresInternals, id: ConversationId, creator: DeviceId, now: number, suite?: SuiteName): Promise<boolean> {
    return this.tx(async (db) => {
      const res = await db.query('INSERT INTO conversations (id, epoch, created_at, suite) VALUES ($1, 0, $2, $3) ON CONFLICT DO NOTHING', [id, now, suite ?? null]);
      if (res.rowCount !== 1) return false;
      await db.query('INSERT INTO conversation_members (conversation, device) VALUES ($1, $2)', [id, creator]);
      return true;
    });
  },

  async countConversationsBySuite(this: PostgresInternals): Promise<Record<SuiteName | 'unknown', number>> {
    const out: Record<SuiteName | 'unknown', number> = { classic: 0, 'pq-hybrid': 0, unknown: 0 };
    for (const r of (await this.pool.query('SELECT suite, COUNT(*)::int AS n FROM conversations GROUP BY suite')).rows as Row[]) {
      const k = (r.suite ?? 'unknown') as SuiteName | 'unknown';
      if (k in out) out[k] += r.n as number;
    }
    return out;
  },

  async members(this: PostgresInternals, db: Db | pg.Pool, id: ConversationId): Promise<DeviceId[]> {
    return (await db.query('SELECT device FROM conversation_members WHERE conversation = $1 ORDER BY device', [id])).rows.map((r: Row) => r.device as DeviceId);
  },

  async getConversation(this: PostgresInternals, id: ConversationId): Promise<ConversationRecord | undefined> {
    const r = await this.one('SELECT epoch FROM conversations WHERE id = $1', [id]);
    return r ? { id, epoch: r.epoch as number, members: await this.members(this.pool, id) } : undefined;
  },

  async enqueue(this: PostgresInternals, db: Db, input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, recipients: DeviceId[]): Promise<Delivery> {
    const msg = await this.one(
      `INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
      [input.conversation, kind, input.epoch, input.id, input.sender.device, input.sender.user, input.now, buf(payload)],
      db,
    );
    if (recipients.length === 0) return [];
    const rows = (
      await db.query(
        'INSERT INTO queue (device, message) SELECT d, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(d, o) ORDER BY o RETURNING seq, device',
        [recipients, msg!.id],
      )
    ).rows as Row[];
    return rows.map((r) => ({ device: r.device as DeviceId, item: queueItemOf(input, kind, payload, r.seq as number) }));
  },

  async appendNotice(this: PostgresInternals, input: Parameters<ServerStore['appendNotice']>[0]): Promise<Delivery> {
    return this.tx(async (db) => {
      const rows = (await db.query('SELECT id FROM devices WHERE "user" = ANY($1::text[]) AND revoked_at IS NULL ORDER BY "user", created_at, id', [input.users])).rows as Row[];
      if (rows.length === 0) return [];
      return this.enqueue(db, { conversation: input.conversation, sender: input.sender, epoch: 0, id: input.id, payload: input.payload, now: input.now }, input.kind, input.payload, rows.map((r) => r.id as DeviceId));
    });
  },

  async appendHoldNotices(this: PostgresInternals, input: Parameters<ServerStore['appendHoldNotices']>[0]): Promise<Delivery> {
    return this.tx(async (db) => {
      const convs = (
        await db.query(
          'SELECT DISTINCT m.conversation FROM conversation_members m JOIN devices d ON d.id = m.device WHERE d."user" = $1 ORDER BY m.conversation',
          [input.user],
        )
      ).rows as Row[];
      const deliveries: Delivery = [];
      for (const r of convs) {
        const conversation = r.conversation as ConversationId;
        // Locked like a commit, so the notice takes its place in the conversation's order.
        const conv = await this.one('SELECT epoch FROM conversations WHERE id = $1 FOR UPDATE', [conversation], db);
        const members = await this.members(db, conversation);
        if (!conv || members.length === 0) continue;
        deliveries.push(...(await this.enqueue(db, { conversation, sender: input.sender, epoch: conv.epoch as number, id: input.id, payload: input.payload, now: input.now }, 'hold', input.payload, members)));
      }
      return deliveries;
    });
  },

  /** Locks the conversation row (the per-conversation order across nodes) and checks membership. */
  async lockMember(this: PostgresInternals, db: Db, conversation: ConversationId, device: DeviceId): Promise<{ epoch: number } | AppendResult> {
    const conv = await this.one('SELECT epoch FROM conversations WHERE id = $1 FOR UPDATE', [conversation], db);
    if (!conv) return { kind: 'not-found' };
    if (!(await this.one('SELECT 1 FROM conversation_members WHERE conversation = $1 AND device = $2', [conversation, device], db))) {
      return { kind: 'not-member' };
    }
    return { epoch: conv.epoch as number };
  },

  appendMessage(this: PostgresInternals, input: AppendInput): Promise<AppendResult> {
    if (input.blobs?.length) return this.appendStepByStep(input);
    return new Promise((resolve, reject) => {
      this.pendingAppends.push({ input, resolve, reject });
      if (this.pendingAppends.length === 1) setImmediate(() => void this.flushAppends());
    });
  },

  async flushAppends(this: PostgresInternals): Promise<void> {
    // At most 500 messages and about 8 MiB of payload per statement; the rest go in the next turn.
    let take = 0;
    for (let bytes = 0; take < this.pendingAppends.length && take < 500 && bytes < 8 * 1024 * 1024; take++) {
      bytes += this.pendingAppends[take]!.input.payload.byteLength;
    }
    const batch = this.pendingAppends.splice(0, take);
    if (this.pendingAppends.length > 0) setImmediate(() => void this.flushAppends());
    const inputs = batch.map((b) => b.input);
    let stored = new Map<string, Row>();
    try {
      const rows = (await this.pool.query(batchAppend, [
        inputs.map((i) => i.conversation),
        inputs.map((i) => i.sender.device),
        inputs.map((i) => i.id),
        inputs.map((i) => i.epoch),
        inputs.map((i) => i.sender.user),
        inputs.map((i) => i.now),
        inputs.map((i) => buf(i.payload)),
      ])).rows as Row[];
      stored = new Map(rows.map((r) => [`${r.conversation as string} ${r.msg_id as string}`, r]));
    } catch {
      // Nothing of the batch was stored; each message takes the step-by-step path below.
    }
    for (const b of batch) {
      const input = b.input;
      const r = stored.get(`${input.conversation} ${input.id}`);
      if (!r) {
        this.appendStepByStep(input).then(b.resolve, b.reject);
        continue;
      }
      const deliveries = (r.q as [number, DeviceId][]).map(([seq, device]) => ({ device, item: queueItemOf(input, 'app', input.payload, Number(seq)) }));
      b.resolve({ kind: 'ok', epoch: input.epoch, deliveries, duplicate: false });
    }
  },

  async appendStepByStep(this: PostgresInternals, input: AppendInput): Promise<AppendResult> {
    return this.tx(async (db): Promise<AppendResult> => {
      const conv = await this.one('SELECT epoch FROM conversations WHERE id = $1 FOR UPDATE', [input.conversation], db);
      const member = conv !== undefined && (await this.one('SELECT 1 FROM conversation_members WHERE conversation = $1 AND device = $2', [input.conversation, input.sender.device], db)) !== undefined;
      const stored = member && (await this.one("SELECT 1 FROM messages WHERE conversation = $1 AND kind = 'app' AND msg_id = $2", [input.conversation, input.id], db)) !== undefined;
      let unusableBlob: BlobId | undefined;
      for (const blob of input.blobs ?? []) {
        if (!(await this.one('SELECT 1 FROM blobs b JOIN blob_grants g ON g.blob = b.id WHERE b.id = $1 AND b.complete AND g.device = $2', [blob, input.sender.device], db))) {
          unusableBlob = blob;
          break;
        }
      }
      const decision = decideAppend(input, { epoch: conv?.epoch as number | undefined, member, stored, unusableBlob });
      if (decision.kind !== 'accept') return decision;
      const recipients = (await this.members(db, input.conversation)).filter((d) => d !== input.sender.device);
      for (const blob of input.blobs ?? []) {
        await db.query('INSERT INTO blob_grants (blob, device) SELECT $1, d FROM unnest($2::text[]) AS d ON CONFLICT DO NOTHING', [blob, recipients]);
      }
      return { kind: 'ok', epoch: decision.epoch, deliveries: await this.enqueue(db, input, 'app', input.payload, recipients), duplicate: false };
    });
  },

  async appendCommit(this: PostgresInternals, input: CommitInput): Promise<AppendResult> {
    return this.tx(async (db): Promise<AppendResult> => {
      const check = await this.lockMember(db, input.conversation, input.sender.device);
      if ('kind' in check) return check;
      const prior = await this.one('SELECT commit_id FROM conversation_epochs WHERE conversation = $1 AND epoch = $2', [input.conversation, input.epoch], db);
      const members = new Set(await this.members(db, input.conversation));
      const named = devicesNamed(input);
      const devices = new Map<DeviceId, 'active' | 'revoked'>();
      if (named.length > 0) {
        for (const r of (await db.query('SELECT id, revoked_at FROM devices WHERE id = ANY($1::text[])', [named])).rows as Row[]) {
          devices.set(r.id as DeviceId, r.revoked_at === null ? 'active' : 'revoked');
        }
      }
      const decision = decideCommit(input, { epoch: check.epoch, acceptedAtEpoch: prior?.commit_id as string | undefined, members, devices });
      if (decision.kind !== 'accept') return decision;
      await db.query('INSERT INTO conversation_epochs (conversation, epoch, commit_id, sender, created_at) VALUES ($1, $2, $3, $4, $5)', [
        input.conversation,
        input.epoch,
        input.id,
        input.sender.device,
        input.now,
      ]);
      await db.query('UPDATE conversations SET epoch = $1 WHERE id = $2', [input.epoch + 1, input.conversation]);
      const deliveries = await this.enqueue(db, input, 'commit', input.payload, decision.recipients);
      if (input.remove.length > 0) {
        await db.query('DELETE FROM conversation_members WHERE conversation = $1 AND device = ANY($2::text[])', [input.conversation, input.remove]);
      }
      for (const d of input.add) await db.query('INSERT INTO conversation_members (conversation, device) VALUES ($1, $2)', [input.conversation, d]);
      if (input.welcome && input.add.length > 0) {
        deliveries.push(...(await this.enqueue(db, { ...input, epoch: input.epoch + 1 }, 'welcome', input.welcome, input.add)));
      }
      return { kind: 'ok', epoch: input.epoch + 1, deliveries, duplicate: false };
    });
  },

  async fetchQueue(this: PostgresInternals, device: DeviceId, after: number, limit: number, through = Number.MAX_SAFE_INTEGER): Promise<QueueItem[]> {
    const rows = (
      await this.pool.query(
        `SELECT q.seq, m.conversation, m.kind, m.epoch, m.msg_id, m.sender_device, m.sender_user, m.created_at, m.payload
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = $1 AND q.seq > $2 AND q.seq <= $3 ORDER BY q.seq LIMIT $4`,
        [device, after, through, limit],
      )
    ).rows as Row[];
    return rows.map(queueItemFromRow);
  },

  async listQueue(this: PostgresInternals, device: DeviceId, after: number, limit: number): Promise<QueueEntry[]> {
    const rows = (
      await this.pool.query(
        `SELECT q.seq, m.conversation, m.kind, m.sender_user, m.created_at, octet_length(m.payload) AS bytes
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = $1 AND q.seq > $2 ORDER BY q.seq LIMIT $3`,
        [device, after, limit],
      )
    ).rows as Row[];
    return rows.map(queueEntryFromRow);
  },

  /**
   * Acks that arrive in the same turn of the event loop share one statement (one round trip, one commit), like the
   * SQLite store's group commit. Each caller learns how many of its own items went.
   */
  ack(this: PostgresInternals, device: DeviceId, seqs: number[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ device, seqs, resolve, reject });
      if (this.pendingAcks.length === 1) setImmediate(() => void this.flushAcks());
    });
  },

  async flushAcks(this: PostgresInternals): Promise<void> {
    // At most 1,000 callers per statement (each names at most limits.maxAckBatch items); the rest go next turn.
    const batch = this.pendingAcks.splice(0, 1000);
    if (this.pendingAcks.length > 0) setImmediate(() => void this.flushAcks());
    const devices: DeviceId[] = [];
    const seqs: number[] = [];
    for (const b of batch) {
      for (const seq of b.seqs) {
        devices.push(b.device);
        seqs.push(seq);
      }
    }
    let gone: Set<string>;
    try {
      const rows = devices.length === 0 ? [] : ((await this.pool.query(ackBatch, [devices, seqs])).rows as Row[]);
      gone = new Set(rows.map((r) => `${r.device as string} ${String(r.seq)}`));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    // An item counts once, for the first caller in the batch that named it.
    for (const b of batch) {
      let n = 0;
      for (const seq of new Set(b.seqs)) if (gone.delete(`${b.device} ${seq}`)) n++;
      b.resolve(n);
    }
  },

  async queueDepth(this: PostgresInternals): Promise<number> {
    return ((await this.one('SELECT COUNT(*)::bigint AS n FROM queue'))!.n as number) ?? 0;
  },

  async advanceQueueSeq(this: PostgresInternals, min: number): Promise<void> {
    // A restart's floor (milliseconds × 1000) is far above any seq really issued; the queue's own maximum covers the rest.
    await this.pool.query("SELECT setval(pg_get_serial_sequence('queue', 'seq'), GREATEST($1::bigint, COALESCE((SELECT MAX(seq) FROM queue), 0)))", [min]);
  },

  async blobTotals(this: PostgresInternals): Promise<{ count: number; bytes: number }> {
    const r = (await this.one('SELECT COUNT(*)::bigint AS n, COALESCE(SUM(size), 0)::bigint AS b FROM blobs'))!;
    return { count: Number(r.n), bytes: Number(r.b) };
  },
};
