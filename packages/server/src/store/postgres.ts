// ServerStore on PostgreSQL (pg), for many server nodes sharing one database. Same contract as the SQLite store
// (store/contract.testkit.ts). Each method is one transaction; per-conversation rules (one commit per epoch,
// messages only for the current epoch) hold across nodes because they lock the conversation row.
import pg from 'pg';
import { timingSafeEqual } from 'node:crypto';
import { auditEntryHash, AUDIT_GENESIS, type AuditEntry, type AuditFields, type BlobId, type ConversationId, type DeviceId, type QueueItem, type UserId } from '@sealpost/protocol';
import { decodeLinkKeyPackages, encodeLinkKeyPackages } from './link-key-packages.js';
import { postgresMigrations } from './postgres-migrations.js';
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

type Db = pg.PoolClient;

// BIGINT (oid 20) as a JavaScript number: every BIGINT here is a millisecond time, a size or a sequence number.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresStoreOptions {
  /** postgres://… connection string. */
  url: string;
  /** Schema to use (created if missing); default "public". */
  schema?: string;
  poolSize?: number;
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = opts.schema ?? 'public';
  if (!schemaPattern.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    types,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  });
  // A pool error (a dropped idle connection, a database restart) must not crash the node; the next query reconnects.
  pool.on('error', () => {});
  const store = new PostgresStore(pool);
  await store.migrate(schema);
  return store;
}

export class PostgresStore implements ServerStore {
  constructor(readonly pool: pg.Pool) {}

  async migrate(schema: string): Promise<void> {
    await this.tx(async (db) => {
      // One node migrates at a time.
      await db.query('SELECT pg_advisory_xact_lock(7361626)');
      await db.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await db.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const applied = new Set((await db.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => r.version as number));
      for (const m of postgresMigrations) {
        if (applied.has(m.version)) continue;
        await db.query(m.sql);
        await db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Whether the database answers (for /readyz). */
  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  private async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      const out = await fn(db);
      await db.query('COMMIT');
      return out;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }

  private async one(sql: string, params: unknown[] = [], db?: Db): Promise<Row | undefined> {
    return (await (db ?? this.pool).query(sql, params)).rows[0] as Row | undefined;
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.one('SELECT value FROM meta WHERE key = $1', [key]))?.value as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async createUser(user: { user: UserId; name: string | undefined; now: number }, activation: { codeHash: Uint8Array; expiresAt: number }): Promise<boolean> {
    return this.tx(async (db) => {
      const res = await db.query('INSERT INTO users ("user", name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [user.user, user.name ?? null, user.now]);
      if (res.rowCount !== 1) return false;
      await db.query('INSERT INTO activation_codes ("user", code_hash, expires_at) VALUES ($1, $2, $3)', [user.user, buf(activation.codeHash), activation.expiresAt]);
      return true;
    });
  }

  private static readonly userQuery = 'SELECT u.*, (SELECT COUNT(*)::int FROM devices d WHERE d."user" = u."user" AND d.revoked_at IS NULL) AS device_count FROM users u';


  async getUser(user: UserId): Promise<UserRecord | undefined> {
    const r = await this.one(`${PostgresStore.userQuery} WHERE u."user" = $1`, [user]);
    return r ? userFromRow(r) : undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.pool.query(`${PostgresStore.userQuery} ORDER BY u."user"`)).rows.map((r: Row) => userFromRow(r));
  }

  async activationCodeHash(user: UserId): Promise<Uint8Array | undefined> {
    const r = await this.one('SELECT code_hash FROM activation_codes WHERE "user" = $1 AND used_at IS NULL', [user]);
    return r ? u8(r.code_hash) : undefined;
  }

  async countWrongActivation(user: UserId): Promise<void> {
    await this.pool.query('UPDATE activation_codes SET attempts = attempts + 1 WHERE "user" = $1', [user]);
  }

  async enroll(input: EnrollInput): Promise<EnrollVerdict> {
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
  }

  private async insertKeyPackages(db: Db, device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined): Promise<void> {
    for (const kp of kps) {
      await db.query('INSERT INTO key_packages (ref, device, data, last_resort) VALUES ($1, $2, $3, FALSE) ON CONFLICT DO NOTHING', [kp.ref, device, buf(kp.data)]);
    }
    if (lastResort) {
      await db.query('DELETE FROM key_packages WHERE device = $1 AND last_resort', [device]);
      await db.query('INSERT INTO key_packages (ref, device, data, last_resort) VALUES ($1, $2, $3, TRUE) ON CONFLICT DO NOTHING', [lastResort.ref, device, buf(lastResort.data)]);
    }
  }


  async getDevice(device: DeviceId): Promise<DeviceRecord | undefined> {
    const r = await this.one('SELECT * FROM devices WHERE id = $1', [device]);
    return r ? deviceFromRow(r) : undefined;
  }

  async listDevices(user: UserId): Promise<DeviceRecord[]> {
    return (await this.pool.query('SELECT * FROM devices WHERE "user" = $1 ORDER BY created_at', [user])).rows.map((r: Row) => deviceFromRow(r));
  }

  async touchDevice(device: DeviceId, now: number): Promise<void> {
    await this.pool.query('UPDATE devices SET last_seen_at = $1 WHERE id = $2', [now, device]);
  }

  async getDeviceList(user: UserId): Promise<StoredDeviceList | undefined> {
    const r = await this.one('SELECT * FROM device_lists WHERE "user" = $1', [user]);
    return r ? { version: r.version as number, accountKey: u8(r.account_key), body: u8(r.body), signature: u8(r.signature) } : undefined;
  }

  async addKeyPackages(device: DeviceId, kps: NewKeyPackage[], lastResort: NewKeyPackage | undefined, max: number): Promise<number | undefined> {
    return this.tx(async (db) => {
      await db.query('SELECT id FROM devices WHERE id = $1 FOR UPDATE', [device]);
      const have = await this.countIn(db, device);
      if (have + kps.length > max) return undefined;
      await this.insertKeyPackages(db, device, kps, lastResort);
      return this.countIn(db, device);
    });
  }

  private async countIn(db: Db | pg.Pool, device: DeviceId): Promise<number> {
    return ((await db.query('SELECT COUNT(*)::int AS n FROM key_packages WHERE device = $1 AND NOT last_resort', [device])).rows[0] as Row).n as number;
  }

  async countKeyPackages(device: DeviceId): Promise<number> {
    return this.countIn(this.pool, device);
  }

  async claimKeyPackages(users: UserId[], exclude: DeviceId[], lastResortOnly: ReadonlySet<DeviceId> = new Set()): Promise<ClaimedKeyPackage[]> {
    const skip = new Set<string>(exclude);
    return this.tx(async (db) => {
      const out: ClaimedKeyPackage[] = [];
      for (const user of users) {
        for (const d of (await db.query('SELECT id FROM devices WHERE "user" = $1 AND revoked_at IS NULL ORDER BY created_at', [user])).rows as Row[]) {
          const device = d.id as DeviceId;
          if (skip.has(device)) continue;
          // SKIP LOCKED: two nodes claiming at once never hand out the same one-time KeyPackage.
          const kp = await this.one(
            'SELECT ref, data, last_resort FROM key_packages WHERE device = $1 AND (last_resort OR NOT $2) ORDER BY last_resort, seq LIMIT 1 FOR UPDATE SKIP LOCKED',
            [device, lastResortOnly.has(device)],
            db,
          );
          if (kp && !kp.last_resort) await db.query('DELETE FROM key_packages WHERE ref = $1', [kp.ref]);
          out.push({ user, device, data: kp ? u8(kp.data) : undefined });
        }
      }
      return out;
    });
  }

  async putChallenge(device: DeviceId, challenge: Uint8Array, expiresAt: number): Promise<void> {
    await this.tx(async (db) => {
      await db.query('DELETE FROM auth_challenges WHERE expires_at <= $1', [Date.now()]);
      await db.query(
        `DELETE FROM auth_challenges WHERE device = $1 AND challenge IN
           (SELECT challenge FROM auth_challenges WHERE device = $1 ORDER BY expires_at DESC OFFSET 15)`,
        [device],
      );
      await db.query('INSERT INTO auth_challenges (device, challenge, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [device, buf(challenge), expiresAt]);
    });
  }

  async takeChallenge(device: DeviceId, challenge: Uint8Array, now: number): Promise<boolean> {
    const res = await this.pool.query('DELETE FROM auth_challenges WHERE device = $1 AND challenge = $2 AND expires_at > $3', [device, buf(challenge), now]);
    return res.rowCount === 1;
  }

  async createSession(tokenHash: Uint8Array, device: DeviceId, expiresAt: number): Promise<void> {
    await this.tx(async (db) => {
      await db.query('DELETE FROM sessions WHERE expires_at <= $1', [Date.now()]);
      await db.query('INSERT INTO sessions (token_hash, device, expires_at) VALUES ($1, $2, $3)', [buf(tokenHash), device, expiresAt]);
    });
  }

  async getSession(tokenHash: Uint8Array, now: number): Promise<{ device: DeviceId; user: UserId; expiresAt: number } | undefined> {
    const r = await this.one(
      `SELECT s.device, d."user", s.expires_at FROM sessions s JOIN devices d ON d.id = s.device JOIN users u ON u."user" = d."user"
       WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.status = 'active' AND d.revoked_at IS NULL`,
      [buf(tokenHash), now],
    );
    return r ? { device: r.device as DeviceId, user: r.user as UserId, expiresAt: Number(r.expires_at) } : undefined;
  }

  async createConversation(id: ConversationId, creator: DeviceId, now: number): Promise<boolean> {
    return this.tx(async (db) => {
      const res = await db.query('INSERT INTO conversations (id, epoch, created_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING', [id, now]);
      if (res.rowCount !== 1) return false;
      await db.query('INSERT INTO conversation_members (conversation, device) VALUES ($1, $2)', [id, creator]);
      return true;
    });
  }

  private async members(db: Db | pg.Pool, id: ConversationId): Promise<DeviceId[]> {
    return (await db.query('SELECT device FROM conversation_members WHERE conversation = $1 ORDER BY device', [id])).rows.map((r: Row) => r.device as DeviceId);
  }

  async getConversation(id: ConversationId): Promise<ConversationRecord | undefined> {
    const r = await this.one('SELECT epoch FROM conversations WHERE id = $1', [id]);
    return r ? { id, epoch: r.epoch as number, members: await this.members(this.pool, id) } : undefined;
  }

  private async enqueue(db: Db, input: AppendInput, kind: QueueItem['k'], payload: Uint8Array, recipients: DeviceId[]): Promise<Delivery> {
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
  }

  /** Locks the conversation row (the per-conversation order across nodes) and checks membership. */
  private async lockMember(db: Db, conversation: ConversationId, device: DeviceId): Promise<{ epoch: number } | AppendResult> {
    const conv = await this.one('SELECT epoch FROM conversations WHERE id = $1 FOR UPDATE', [conversation], db);
    if (!conv) return { kind: 'not-found' };
    if (!(await this.one('SELECT 1 FROM conversation_members WHERE conversation = $1 AND device = $2', [conversation, device], db))) {
      return { kind: 'not-member' };
    }
    return { epoch: conv.epoch as number };
  }

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
  private static readonly batchAppend = `
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

  appendMessage(input: AppendInput): Promise<AppendResult> {
    if (input.blobs?.length) return this.appendStepByStep(input);
    return new Promise((resolve, reject) => {
      this.pendingAppends.push({ input, resolve, reject });
      if (this.pendingAppends.length === 1) setImmediate(() => void this.flushAppends());
    });
  }

  private pendingAppends: { input: AppendInput; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }[] = [];

  private async flushAppends(): Promise<void> {
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
      const rows = (await this.pool.query(PostgresStore.batchAppend, [
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
      const item = { c: input.conversation, k: 'app' as const, e: input.epoch, id: input.id, from: input.sender.device, fromUser: input.sender.user, at: input.now, p: input.payload };
      const deliveries = (r.q as [number, DeviceId][]).map(([seq, device]) => ({ device, item: { seq: Number(seq), ...item } }));
      b.resolve({ kind: 'ok', epoch: input.epoch, deliveries, duplicate: false });
    }
  }

  private async appendStepByStep(input: AppendInput): Promise<AppendResult> {
    return this.tx(async (db): Promise<AppendResult> => {
      const check = await this.lockMember(db, input.conversation, input.sender.device);
      if ('kind' in check) return check;
      if (await this.one("SELECT 1 FROM messages WHERE conversation = $1 AND kind = 'app' AND msg_id = $2", [input.conversation, input.id], db)) {
        return { kind: 'ok', epoch: check.epoch, deliveries: [], duplicate: true };
      }
      if (input.epoch !== check.epoch) return { kind: 'epoch-conflict', epoch: check.epoch };
      const recipients = (await this.members(db, input.conversation)).filter((d) => d !== input.sender.device);
      for (const blob of input.blobs ?? []) {
        const ok = await this.one('SELECT 1 FROM blobs b JOIN blob_grants g ON g.blob = b.id WHERE b.id = $1 AND b.complete AND g.device = $2', [blob, input.sender.device], db);
        if (!ok) return { kind: 'blob-not-found', blob };
      }
      for (const blob of input.blobs ?? []) {
        await db.query('INSERT INTO blob_grants (blob, device) SELECT $1, d FROM unnest($2::text[]) AS d ON CONFLICT DO NOTHING', [blob, recipients]);
      }
      return { kind: 'ok', epoch: check.epoch, deliveries: await this.enqueue(db, input, 'app', input.payload, recipients), duplicate: false };
    });
  }

  async appendCommit(input: CommitInput): Promise<AppendResult> {
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
  }

  async fetchQueue(device: DeviceId, after: number, limit: number, through = Number.MAX_SAFE_INTEGER): Promise<QueueItem[]> {
    const rows = (
      await this.pool.query(
        `SELECT q.seq, m.conversation, m.kind, m.epoch, m.msg_id, m.sender_device, m.sender_user, m.created_at, m.payload
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = $1 AND q.seq > $2 AND q.seq <= $3 ORDER BY q.seq LIMIT $4`,
        [device, after, through, limit],
      )
    ).rows as Row[];
    return rows.map(queueItemFromRow);
  }

  async listQueue(device: DeviceId, after: number, limit: number): Promise<QueueEntry[]> {
    const rows = (
      await this.pool.query(
        `SELECT q.seq, m.conversation, m.kind, m.sender_user, m.created_at, octet_length(m.payload) AS bytes
         FROM queue q JOIN messages m ON m.id = q.message WHERE q.device = $1 AND q.seq > $2 ORDER BY q.seq LIMIT $3`,
        [device, after, limit],
      )
    ).rows as Row[];
    return rows.map(queueEntryFromRow);
  }

  /**
   * Acks that arrive in the same turn of the event loop share one statement (one round trip, one commit), like the
   * SQLite store's group commit. Each caller learns how many of its own items went.
   */
  ack(device: DeviceId, seqs: number[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ device, seqs, resolve, reject });
      if (this.pendingAcks.length === 1) setImmediate(() => void this.flushAcks());
    });
  }

  private pendingAcks: { device: DeviceId; seqs: number[]; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];

  /**
   * One statement: the acknowledged queue rows go (only a device's own), and each message no other queue row
   * refers to. (The statement's snapshot still shows the rows being deleted, so those are excluded by hand.)
   */
  private static readonly ackBatch = `
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

  private async flushAcks(): Promise<void> {
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
      const rows = devices.length === 0 ? [] : ((await this.pool.query(PostgresStore.ackBatch, [devices, seqs])).rows as Row[]);
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
  }

  async createBlob(blob: { id: BlobId; ownerUser: UserId; ownerDevice: DeviceId; size: number; now: number }, quotaBytes: number): Promise<'ok' | 'quota'> {
    return this.tx(async (db): Promise<'ok' | 'quota'> => {
      // Serialise a user's uploads so two nodes cannot both pass the quota check.
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [blob.ownerUser]);
      const used = ((await this.one('SELECT COALESCE(SUM(size), 0)::bigint AS n FROM blobs b WHERE b.owner_user = $1 AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)', [blob.ownerUser], db))!.n as number) ?? 0;
      if (used + blob.size > quotaBytes) return 'quota';
      await db.query('INSERT INTO blobs (id, owner_user, owner_device, size, created_at) VALUES ($1, $2, $3, $4, $5)', [blob.id, blob.ownerUser, blob.ownerDevice, blob.size, blob.now]);
      await db.query('INSERT INTO blob_grants (blob, device) VALUES ($1, $2)', [blob.id, blob.ownerDevice]);
      return 'ok';
    });
  }

  async getBlob(id: BlobId): Promise<BlobRecord | undefined> {
    const r = await this.one('SELECT * FROM blobs WHERE id = $1', [id]);
    if (!r) return undefined;
    return {
      id: r.id as BlobId,
      ownerUser: r.owner_user as UserId,
      ownerDevice: r.owner_device as DeviceId,
      size: r.size as number,
      received: r.received as number,
      complete: r.complete as boolean,
      createdAt: r.created_at as number,
    };
  }

  async setBlobReceived(id: BlobId, received: number, complete: boolean, now: number): Promise<void> {
    await this.pool.query('UPDATE blobs SET received = $1, complete = $2, completed_at = $3 WHERE id = $4', [received, complete, complete ? now : null, id]);
  }

  async hasBlobGrant(id: BlobId, device: DeviceId): Promise<boolean> {
    return (await this.one('SELECT 1 FROM blob_grants WHERE blob = $1 AND device = $2', [id, device])) !== undefined;
  }

  async releaseBlobGrant(id: BlobId, device: DeviceId): Promise<boolean> {
    return this.tx(async (db) => {
      await db.query('SELECT id FROM blobs WHERE id = $1 FOR UPDATE', [id]);
      await db.query('DELETE FROM blob_grants WHERE blob = $1 AND device = $2', [id, device]);
      if (await this.one('SELECT 1 FROM blob_grants WHERE blob = $1', [id], db)) return false;
      return (await db.query('DELETE FROM blobs WHERE id = $1', [id])).rowCount === 1;
    });
  }

  async blobBytesOf(user: UserId): Promise<number> {
    return ((await this.one('SELECT COALESCE(SUM(size), 0)::bigint AS n FROM blobs b WHERE b.owner_user = $1 AND EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob = b.id AND g.device = b.owner_device)', [user]))!.n as number) ?? 0;
  }

  async queueDepth(): Promise<number> {
    return ((await this.one('SELECT COUNT(*)::bigint AS n FROM queue'))!.n as number) ?? 0;
  }

  async addPresence(device: DeviceId, node: string, now: number): Promise<void> {
    await this.pool.query('INSERT INTO device_presence (device, node, since) VALUES ($1, $2, $3) ON CONFLICT (device, node) DO UPDATE SET since = excluded.since', [
      device,
      node,
      now,
    ]);
  }

  async removePresence(device: DeviceId, node: string): Promise<void> {
    await this.pool.query('DELETE FROM device_presence WHERE device = $1 AND node = $2', [device, node]);
  }

  async presenceOf(devices: DeviceId[]): Promise<{ device: DeviceId; node: string }[]> {
    if (devices.length === 0) return [];
    return (await this.pool.query('SELECT device, node FROM device_presence WHERE device = ANY($1::text[])', [devices])).rows as { device: DeviceId; node: string }[];
  }

  async clearPresence(node: string): Promise<void> {
    await this.pool.query('DELETE FROM device_presence WHERE node = $1', [node]);
  }

  async deleteStaleUploads(before: number): Promise<BlobId[]> {
    return (await this.pool.query('DELETE FROM blobs WHERE NOT complete AND created_at < $1 RETURNING id', [before])).rows.map((r: Row) => r.id as BlobId);
  }

  // ---- devices and administration -------------------------------------------------------------------------

  private async recordListVersion(db: Db, user: UserId, list: StoredDeviceList): Promise<void> {
    await db.query(
      `INSERT INTO device_list_versions ("user", version, body, signature) VALUES ($1, $2, $3, $4)
       ON CONFLICT ("user", version) DO UPDATE SET body = excluded.body, signature = excluded.signature`,
      [user, list.version, buf(list.body), buf(list.signature)],
    );
    await this.markKtPending(db, user);
  }

  /** The user's account record changed: the next key-transparency epoch publishes it. */
  private async markKtPending(db: Db, user: UserId): Promise<void> {
    await db.query('INSERT INTO kt_pending ("user", seq) VALUES ($1, 1) ON CONFLICT ("user") DO UPDATE SET seq = kt_pending.seq + 1', [user]);
  }

  async deviceListHistory(user: UserId, limit: number): Promise<{ body: Uint8Array; signature: Uint8Array }[]> {
    return (await this.pool.query('SELECT body, signature FROM device_list_versions WHERE "user" = $1 ORDER BY version DESC LIMIT $2', [user, limit])).rows.map(
      (r: Row) => ({ body: u8(r.body), signature: u8(r.signature) }),
    );
  }

  async setUserStatus(user: UserId, status: UserRecord['status']): Promise<boolean> {
    return (await this.pool.query('UPDATE users SET status = $1 WHERE "user" = $2', [status, user])).rowCount === 1;
  }

  /** Inside a transaction: revoke one device and queue its removal notice to the rest of its conversations. */
  private async revokeOne(db: Db, user: UserId, r: Revocation, now: number): Promise<Delivery> {
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
  }

  async resetUser(user: UserId, revocations: Revocation[], activation: { codeHash: Uint8Array; expiresAt: number }, now: number): Promise<Delivery> {
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
  }

  async revokeDevices(user: UserId, revocations: Revocation[], now: number, deviceList?: StoredDeviceList): Promise<Delivery | 'list-changed'> {
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
  }

  async createLink(link: LinkRecord, maxPending: number): Promise<boolean> {
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
  }

  async getLink(codeHash: Uint8Array): Promise<LinkRecord | undefined> {
    const r = await this.one('SELECT * FROM device_links WHERE code_hash = $1', [buf(codeHash)]);
    return r ? linkFromRow(r) : undefined;
  }

  async approveLink(input: { codeHash: Uint8Array; deviceList: StoredDeviceList; sealed: Uint8Array; maxDevices: number; now: number }): Promise<LinkApproveVerdict> {
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
  }

  async deleteExpiredLinks(now: number): Promise<void> {
    await this.pool.query('DELETE FROM device_links WHERE expires_at <= $1', [now]);
  }

  async putWipe(w: WipeRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO wipes (device, command, signature, issued_at, confirmed_at) VALUES ($1, $2, $3, $4, NULL)
       ON CONFLICT (device) DO UPDATE SET command = excluded.command, signature = excluded.signature, issued_at = excluded.issued_at, confirmed_at = NULL`,
      [w.device, buf(w.command), buf(w.signature), w.issuedAt],
    );
  }

  async getWipe(device: DeviceId): Promise<WipeRecord | undefined> {
    const r = await this.one('SELECT * FROM wipes WHERE device = $1', [device]);
    if (!r) return undefined;
    return { device, command: u8(r.command), signature: u8(r.signature), issuedAt: r.issued_at as number, confirmedAt: (r.confirmed_at as number | null) ?? undefined };
  }

  async confirmWipe(device: DeviceId, now: number): Promise<void> {
    await this.pool.query('UPDATE wipes SET confirmed_at = COALESCE(confirmed_at, $1) WHERE device = $2', [now, device]);
  }

  async addAdminToken(name: string, tokenHash: Uint8Array, now: number): Promise<boolean> {
    const res = await this.pool.query('INSERT INTO admin_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [name, buf(tokenHash), now]);
    return res.rowCount === 1;
  }

  async findAdminToken(tokenHash: Uint8Array): Promise<string | undefined> {
    return (await this.one('SELECT name FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL', [buf(tokenHash)]))?.name as string | undefined;
  }

  async listAdminTokens(): Promise<AdminTokenRecord[]> {
    return (await this.pool.query('SELECT * FROM admin_tokens ORDER BY created_at, name')).rows.map((r: Row) => ({
      name: r.name as string,
      createdAt: r.created_at as number,
      revokedAt: (r.revoked_at as number | null) ?? undefined,
    }));
  }

  async revokeAdminToken(name: string, now: number): Promise<boolean> {
    return (await this.pool.query('UPDATE admin_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [now, name])).rowCount === 1;
  }

  async appendAudit(entry: Omit<AuditFields, 'seq'>): Promise<AuditEntry> {
    return this.tx(async (db) => {
      // One writer at a time across nodes, so the chain never forks.
      await db.query('SELECT pg_advisory_xact_lock(7361627)');
      const last = await this.one('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1', [], db);
      const seq = last ? (last.seq as number) + 1 : 1;
      const prevHash = last ? u8(last.hash) : AUDIT_GENESIS;
      const fields: AuditFields = { ...entry, seq };
      const hash = auditEntryHash(prevHash, fields);
      await db.query('INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
        seq, entry.at, entry.actor, entry.action, entry.target, JSON.stringify(entry.details), buf(prevHash), buf(hash),
      ]);
      return { ...fields, prevHash, hash };
    });
  }

  async listAudit(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return (await this.pool.query('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit])).rows.map(auditFromRow);
  }

  async lookupUser(user: UserId): Promise<UserLookup> {
    const convs = (
      await this.pool.query(
        `SELECT c.id, c.epoch,
           (SELECT COUNT(*)::int FROM conversation_members m2 WHERE m2.conversation = c.id) AS member_devices,
           (SELECT COUNT(*)::int FROM messages m WHERE m.conversation = c.id) AS stored_messages,
           (SELECT COALESCE(SUM(LENGTH(m.payload)), 0)::bigint FROM messages m WHERE m.conversation = c.id) AS stored_bytes
         FROM conversations c
         WHERE c.id IN (SELECT cm.conversation FROM conversation_members cm JOIN devices d ON d.id = cm.device WHERE d."user" = $1)
         ORDER BY c.created_at`,
        [user],
      )
    ).rows as Row[];
    const queued = (await this.one(
      `SELECT COUNT(*)::int AS n, COALESCE(SUM(LENGTH(m.payload)), 0)::bigint AS bytes FROM queue q JOIN messages m ON m.id = q.message
       JOIN devices d ON d.id = q.device WHERE d."user" = $1`,
      [user],
    ))!;
    const blobs = (await this.one('SELECT COUNT(*)::int AS n, COALESCE(SUM(size), 0)::bigint AS bytes FROM blobs WHERE owner_user = $1', [user]))!;
    const code = await this.one('SELECT expires_at, used_at, attempts FROM activation_codes WHERE "user" = $1', [user]);
    const list = await this.one('SELECT version FROM device_lists WHERE "user" = $1', [user]);
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
    return this.tx(async (db) => {
      // Handshake messages (commits, Welcomes) are kept: a device that misses one could never catch up.
      await db.query("DELETE FROM queue WHERE message IN (SELECT id FROM messages WHERE created_at < $1 AND kind = 'app')", [before]);
      const messages = (await db.query("DELETE FROM messages WHERE created_at < $1 AND kind = 'app'", [before])).rowCount ?? 0;
      const blobs = (await db.query('DELETE FROM blobs WHERE complete AND completed_at < $1 RETURNING id', [before])).rows.map((r: Row) => r.id as BlobId);
      return { messages, blobs };
    });
  }

  // ---- key transparency ----------------------------------------------------------------------------------

  async ktPending(limit: number, user?: UserId): Promise<KtPending[]> {
    const select = 'SELECT p."user", p.seq, l.account_key, l.version, l.body FROM kt_pending p LEFT JOIN device_lists l ON l."user" = p."user"';
    const rows = (
      user ? await this.pool.query(`${select} WHERE p."user" = $1`, [user]) : await this.pool.query(`${select} ORDER BY p."user" LIMIT $1`, [limit])
    ).rows as Row[];
    return rows.map(ktPendingFromRow);
  }

  async ktPublish(epoch: KtEpochRecord, updates: KtUpdateRecord[], done: { user: UserId; seq: number }[]): Promise<boolean> {
    return this.tx(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock(7361628)');
      if (await this.one('SELECT 1 FROM kt_epochs WHERE epoch = $1', [epoch.epoch], db)) return false;
      await db.query('INSERT INTO kt_epochs (epoch, timestamp, prefix_root, log_root, signature) VALUES ($1, $2, $3, $4, $5)', [
        epoch.epoch, epoch.timestamp, buf(epoch.prefixRoot), buf(epoch.logRoot), buf(epoch.signature),
      ]);
      for (const u of updates) {
        await db.query('INSERT INTO kt_updates (epoch, label, version, value, opening, vrf_index) VALUES ($1, $2, $3, $4, $5, $6)', [
          epoch.epoch, u.label, u.version, buf(u.value), buf(u.opening), buf(u.index),
        ]);
      }
      for (const d of done) await db.query('DELETE FROM kt_pending WHERE "user" = $1 AND seq = $2', [d.user, d.seq]);
      return true;
    });
  }

  async ktEpochs(afterEpoch: number, limit: number): Promise<(KtEpochRecord & { updates: KtUpdateRecord[] })[]> {
    const epochs = (await this.pool.query('SELECT * FROM kt_epochs WHERE epoch > $1 ORDER BY epoch LIMIT $2', [afterEpoch, limit])).rows as Row[];
    if (epochs.length === 0) return [];
    const ups = (await this.pool.query('SELECT * FROM kt_updates WHERE epoch = ANY($1::bigint[]) ORDER BY epoch, label, version', [epochs.map((e) => e.epoch)])).rows as Row[];
    return epochs.map((e) => ({ ...ktEpochFromRow(e), updates: ups.filter((u) => u.epoch === e.epoch).map(ktUpdateFromRow) }));
  }

  async ktPutNextIndexes(rows: KtNextIndex[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1000) {
      const part = rows.slice(i, i + 1000);
      await this.pool.query(
        `INSERT INTO kt_next_index (label, version, vrf_index) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
         ON CONFLICT (label) DO UPDATE SET version = excluded.version, vrf_index = excluded.vrf_index WHERE excluded.version > kt_next_index.version`,
        [part.map((r) => r.label), part.map((r) => r.version), part.map((r) => Buffer.from(r.index))],
      );
    }
  }

  async ktNextIndexes(labels: string[]): Promise<KtNextIndex[]> {
    const out: KtNextIndex[] = [];
    for (let i = 0; i < labels.length; i += 1000) {
      const rows = (await this.pool.query('SELECT label, version, vrf_index FROM kt_next_index WHERE label = ANY($1::text[])', [labels.slice(i, i + 1000)])).rows as Row[];
      for (const r of rows) out.push({ label: r.label as string, version: r.version as number, index: u8(r.vrf_index) });
    }
    return out;
  }

  async ktVersions(label: string, fromVersion: number, limit: number): Promise<KtUpdateRecord[]> {
    const rows = (await this.pool.query('SELECT * FROM kt_updates WHERE label = $1 AND version >= $2 ORDER BY version LIMIT $3', [label, fromVersion, limit])).rows as Row[];
    return rows.map(ktUpdateFromRow);
  }
}


