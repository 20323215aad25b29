// The SQLite store's outside mail: sealed inbound mail queued to a user's devices, and the outbound queue.
import { GATEWAY_DEVICE, INTAKE_CONVERSATION, type DeviceId, type UserId } from '@sealpost/protocol';
import { outboundFromRow, type Row } from '../rows.js';
import type { InboundInput, InboundResult, OutboundRecord } from '../store.js';
import type { SqliteInternals } from './internals.js';
import { commitBatch, waitForCommit } from './group-commit.js';

/** SqliteStore's methods for this area (assembled on its prototype in sqlite.ts). */
export const sqliteMail = {
  /** Group commit (group-commit.ts): every gateway session gets its 250 only after the shared commit. */
  appendInbound(this: SqliteInternals, input: InboundInput): Promise<InboundResult> {
    return waitForCommit(this.pendingInbound, input, () => this.flushInbound());
  },

  flushInbound(this: SqliteInternals): void {
    commitBatch(this.pendingInbound, 200, () => this.flushInbound(), (inputs) => this.inboundBatchTx(inputs));
  },

  /** One inbound append, inside the batch's transaction. */
  appendInboundOne(this: SqliteInternals, input: InboundInput): InboundResult {
    {
      if (this.stmt("SELECT 1 FROM messages WHERE conversation = ? AND kind = 'mail-in' AND msg_id = ?").get(INTAKE_CONVERSATION, input.id)) {
        return { kind: 'duplicate' };
      }
      const devices = (this.stmt('SELECT id FROM devices WHERE user = ? AND revoked_at IS NULL ORDER BY created_at, id').all(input.user) as Row[]).map((r) => r.id as DeviceId);
      if (devices.length === 0) return { kind: 'no-devices' };
      if (input.blob) {
        // One blob for all the message's recipients: the first recipient's append makes the row, every one adds grants.
        this.stmt('INSERT OR IGNORE INTO blobs (id, owner_user, owner_device, size, received, complete, created_at, completed_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)')
          .run(input.blob.id, input.user, devices[0], input.blob.size, input.blob.size, input.now, input.now);
        const grant = this.stmt('INSERT OR IGNORE INTO blob_grants (blob, device) VALUES (?, ?)');
        for (const d of devices) grant.run(input.blob.id, d);
      }
      const append = { conversation: INTAKE_CONVERSATION, sender: { device: GATEWAY_DEVICE, user: input.user }, epoch: 0, id: input.id, payload: input.payload, now: input.now };
      return { kind: 'ok', deliveries: this.enqueue(append, 'mail-in', input.payload, devices) };
    }
  },

  async queueOutbound(this: SqliteInternals, r: OutboundRecord): Promise<boolean> {
    return this.db.transaction((): boolean => {
      const done = this.stmt(
        `INSERT INTO outbound_mail (id, user, sender, recipients, payload, size, encrypted, queued_at, attempts, next_attempt_at, last_error, recipient_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, ?) ON CONFLICT(id) DO NOTHING`,
      ).run(r.id, r.user, r.from, JSON.stringify(r.to), r.payload, r.size, r.encrypted ? 1 : 0, r.queuedAt, r.nextAttemptAt, r.to.length);
      if (done.changes === 0) return false;
      this.stmt('INSERT INTO outbound_sent (user, at, recipients) VALUES (?, ?, ?)').run(r.user, r.queuedAt, r.to.length);
      // Only the last day counts towards the limit; older rows are no longer needed.
      this.stmt('DELETE FROM outbound_sent WHERE user = ? AND at < ?').run(r.user, r.queuedAt - 2 * 86_400_000);
      return true;
    })();
  },

  async claimOutbound(this: SqliteInternals, now: number, leaseUntil: number, limit: number): Promise<OutboundRecord[]> {
    return this.db.transaction((): OutboundRecord[] => {
      const rows = this.stmt('SELECT * FROM outbound_mail WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?').all(now, limit) as Row[];
      const lease = this.stmt('UPDATE outbound_mail SET next_attempt_at = ?, attempts = attempts + 1 WHERE id = ?');
      for (const r of rows) lease.run(leaseUntil, r.id);
      return rows.map((r) => ({ ...outboundFromRow(r), attempts: Number(r.attempts) + 1 }));
    })();
  },

  async outboundAttempted(this: SqliteInternals, id: string, rest: string[], nextAttemptAt: number, lastError: string | undefined): Promise<void> {
    if (rest.length === 0) this.stmt('DELETE FROM outbound_mail WHERE id = ?').run(id);
    else this.stmt('UPDATE outbound_mail SET recipients = ?, next_attempt_at = ?, last_error = ? WHERE id = ?').run(JSON.stringify(rest), nextAttemptAt, lastError ?? null, id);
  },

  async listOutbound(this: SqliteInternals, limit: number): Promise<OutboundRecord[]> {
    return (this.stmt('SELECT * FROM outbound_mail ORDER BY queued_at LIMIT ?').all(limit) as Row[]).map(outboundFromRow);
  },

  async outboundCountSince(this: SqliteInternals, user: UserId, since: number): Promise<number> {
    return (this.stmt('SELECT COALESCE(SUM(recipients), 0) AS n FROM outbound_sent WHERE user = ? AND at >= ?').get(user, since) as Row).n as number;
  },
};
