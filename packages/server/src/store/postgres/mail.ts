// The PostgreSQL store's outside mail: sealed inbound mail queued to a user's devices, and the outbound queue
// (claimed with a lease, so two nodes never try the same message at once).
import { GATEWAY_DEVICE, INTAKE_CONVERSATION, type DeviceId, type UserId } from '@sealpost/protocol';
import { outboundFromRow, type Row } from '../rows.js';
import type { InboundInput, InboundResult, OutboundRecord } from '../store.js';
import { buf } from './db.js';
import type { PostgresInternals } from './internals.js';

/** PostgresStore's methods for this area (assembled on its prototype in postgres.ts). */
export const postgresMail = {
  async appendInbound(this: PostgresInternals, input: InboundInput): Promise<InboundResult> {
    return this.tx(async (db): Promise<InboundResult> => {
      // Two nodes taking the same retried message: the second waits here, then sees the first's row.
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`mail-in:${input.id}`]);
      if (await this.one("SELECT 1 FROM messages WHERE conversation = $1 AND kind = 'mail-in' AND msg_id = $2", [INTAKE_CONVERSATION, input.id], db)) {
        return { kind: 'duplicate' };
      }
      const devices = (await db.query('SELECT id FROM devices WHERE "user" = $1 AND revoked_at IS NULL ORDER BY created_at, id', [input.user])).rows.map((r: Row) => r.id as DeviceId);
      if (devices.length === 0) return { kind: 'no-devices' };
      if (input.blob) {
        // One blob for all the message's recipients: the first recipient's append makes the row, every one adds grants.
        await db.query('INSERT INTO blobs (id, owner_user, owner_device, size, received, complete, created_at, completed_at) VALUES ($1, $2, $3, $4, $4, true, $5, $5) ON CONFLICT (id) DO NOTHING', [
          input.blob.id, input.user, devices[0], input.blob.size, input.now,
        ]);
        await db.query('INSERT INTO blob_grants (blob, device) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [input.blob.id, devices]);
      }
      const append = { conversation: INTAKE_CONVERSATION, sender: { device: GATEWAY_DEVICE, user: input.user }, epoch: 0, id: input.id, payload: input.payload, now: input.now };
      return { kind: 'ok', deliveries: await this.enqueue(db, append, 'mail-in', input.payload, devices) };
    });
  },

  async queueOutbound(this: PostgresInternals, r: OutboundRecord): Promise<boolean> {
    return this.tx(async (db): Promise<boolean> => {
      const done = await db.query(
        `INSERT INTO outbound_mail (id, "user", sender, recipients, payload, size, encrypted, queued_at, attempts, next_attempt_at, last_error, recipient_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, NULL, $10) ON CONFLICT (id) DO NOTHING`,
        [r.id, r.user, r.from, JSON.stringify(r.to), buf(r.payload), r.size, r.encrypted, r.queuedAt, r.nextAttemptAt, r.to.length],
      );
      if (done.rowCount === 0) return false;
      await db.query('INSERT INTO outbound_sent ("user", at, recipients) VALUES ($1, $2, $3)', [r.user, r.queuedAt, r.to.length]);
      // Only the last day counts towards the limit; older rows are no longer needed.
      await db.query('DELETE FROM outbound_sent WHERE "user" = $1 AND at < $2', [r.user, r.queuedAt - 2 * 86_400_000]);
      return true;
    });
  },

  async claimOutbound(this: PostgresInternals, now: number, leaseUntil: number, limit: number): Promise<OutboundRecord[]> {
    const res = await this.pool.query(
      `UPDATE outbound_mail SET next_attempt_at = $2, attempts = attempts + 1
       WHERE id IN (SELECT id FROM outbound_mail WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, leaseUntil, limit],
    );
    return res.rows.map((r: Row) => outboundFromRow(r));
  },

  async outboundAttempted(this: PostgresInternals, id: string, rest: string[], nextAttemptAt: number, lastError: string | undefined): Promise<void> {
    if (rest.length === 0) await this.pool.query('DELETE FROM outbound_mail WHERE id = $1', [id]);
    else await this.pool.query('UPDATE outbound_mail SET recipients = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4', [JSON.stringify(rest), nextAttemptAt, lastError ?? null, id]);
  },

  async listOutbound(this: PostgresInternals, limit: number): Promise<OutboundRecord[]> {
    return (await this.pool.query('SELECT * FROM outbound_mail ORDER BY queued_at LIMIT $1', [limit])).rows.map((r: Row) => outboundFromRow(r));
  },

  async outboundCountSince(this: PostgresInternals, user: UserId, since: number): Promise<number> {
    return Number((await this.one('SELECT COALESCE(SUM(recipients), 0)::bigint AS n FROM outbound_sent WHERE "user" = $1 AND at >= $2', [user, since]))!.n);
  },
};
