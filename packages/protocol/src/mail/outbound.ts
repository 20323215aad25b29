// Outside mail on its way out: what a device submits (MIME it built, OpenPGP-encrypted when it could) and what the
// admin sees of the server's outbound queue (never content).
import { z } from 'zod';
import { SealpostError } from '../errors.js';
import { zMessageId } from '../ids.js';
import { limits } from '../limits.js';

/** Largest message a device may submit for outside delivery (after base64url in JSON, ~4/3 of this). */
export const MAX_OUTBOUND_MAIL_BYTES = 25 * 1024 * 1024;
export const MAX_OUTBOUND_BODY_BYTES = Math.ceil((MAX_OUTBOUND_MAIL_BYTES * 4) / 3) + 64 * 1024;

// An addr-spec as mail servers take it (RFC 5321 §4.1.2, ASCII only): a dot-atom local part and a DNS domain.
const addressPattern = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** A plain mail address (`someone@example.com`), domain lower-cased; anything else is INVALID_INPUT. */
export function parseMailAddress(x: unknown): string {
  if (typeof x !== 'string' || x.length > 254 || !addressPattern.test(x.trim())) {
    const shown = typeof x === 'string' ? JSON.stringify(x.slice(0, 80)) : typeof x;
    throw new SealpostError('INVALID_INPUT', `not a mail address: ${shown}`);
  }
  const t = x.trim();
  const at = t.lastIndexOf('@');
  return `${t.slice(0, at)}@${t.slice(at + 1).toLowerCase()}`;
}

export const mailDomainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

const zAddress = z.string().max(254).transform((s, ctx) => {
  try {
    return parseMailAddress(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** POST /v1/mail/outbound: one message for the outside recipients named (the envelope), built on the device. */
export const zOutboundSubmit = z
  .object({
    /** The sender's id for this submission: a retry with the same id is accepted once. */
    id: zMessageId,
    to: z.array(zAddress).min(1).max(limits.maxMailRecipients),
    /** The RFC 5322 message, base64url. */
    raw: z.string().min(1).max(MAX_OUTBOUND_BODY_BYTES),
    /** Whether the device encrypted it (PGP/MIME) to every recipient; a readable copy needs policy 'tls-allowed'. */
    encrypted: z.boolean(),
  })
  .strict();
export type OutboundSubmit = z.output<typeof zOutboundSubmit>;

/** One waiting outbound message as `admin mail queue` shows it: envelope and state, never content. */
export interface OutboundQueueEntry {
  id: string;
  from: string;
  to: string[];
  size: number;
  encrypted: boolean;
  queuedAt: string;
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
}
