// Handing sealed inbound mail to a user's devices: one IntakeRecord per recipient, sealed to their intake key,
// queued (with the blob grant when the message is large) in one store transaction, then pushed. Used by the SMTP
// gateway and by the outbound queue for the bounces it returns to a sender.
import type { IntakeBody, MessageId, UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { sealIntake } from './intake-sealer.js';

export interface InboundRecipient {
  user: UserId;
  intakeKey: Uint8Array;
}

export interface InboundEnvelope {
  mailFrom: string;
  received: string;
  authResults: string;
  now: number;
}

/** Stores one copy per recipient; returns how many were new (a retry of a stored message counts 0). */
export async function deliverInbound(
  ctx: ServerContext,
  recipients: InboundRecipient[],
  body: IntakeBody,
  env: InboundEnvelope,
  idFor: (user: UserId) => MessageId,
): Promise<number> {
  let stored = 0;
  const blob = body.kind === 'blob' ? { id: body.blob, size: (await ctx.blobs.size(body.blob)) ?? 0 } : undefined;
  try {
    for (const r of recipients) {
      const payload = await sealIntake(r.intakeKey, r.user, { mailFrom: env.mailFrom, rcptTo: r.user, receivedAt: env.now, received: env.received, authResults: env.authResults, body });
      const res = await ctx.store.appendInbound({ user: r.user, id: idFor(r.user), payload, now: env.now, ...(blob ? { blob } : {}) });
      if (res.kind === 'ok') {
        ctx.bus.publish(res.deliveries);
        stored++;
      }
    }
  } finally {
    // No copy refers to the blob (every one was a retry already stored, or the store failed first): it goes.
    if (stored === 0 && blob) await ctx.blobs.delete(blob.id).catch(() => {});
  }
  return stored;
}
