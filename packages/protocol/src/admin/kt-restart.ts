// A key-transparency restart: after a server was restored from a backup, its log is older than the heads some
// devices verified, which they refuse (a rollback looks exactly like that). The organisation says what happened in a
// statement signed with its key (pinned by every device at enrollment): when, why, and the head the log restarts
// from. A device that accepts it starts verifying again from that head, keeps every account key it already knew
// (a different one still alarms), and tells its user.
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { signLabelled, verifyLabelled } from '../signing.js';

export interface KtRestart {
  v: 1;
  /** The organisation's domain: a statement for another server is not this one's. */
  domain: string;
  /** When the restart was declared (ms since 1970). */
  at: number;
  /** The operator's words, shown to every user. */
  reason: string;
  /** The head the restored log stands at. */
  head: { size: number; root: Uint8Array };
}

const zKtRestart = z
  .object({
    v: z.literal(1),
    domain: z.string().min(1).max(253),
    at: z.number().int().min(0),
    reason: z.string().min(1).max(500),
    head: z.object({ size: z.number().int().min(0), root: z.instanceof(Uint8Array).refine((r) => r.length === 32, 'root: 32 bytes') }).strict(),
  })
  .strict();

export const encodeKtRestart = (r: KtRestart): Uint8Array => encodeCbor(r);
export const decodeKtRestart = (b: Uint8Array): KtRestart => parseUnknown(zKtRestart, decodeCbor(b, 2048, 'kt restart'), 'kt restart') as KtRestart;

export async function signKtRestart(sig: Signature, orgPrivateKey: Uint8Array, r: KtRestart): Promise<{ body: Uint8Array; signature: Uint8Array }> {
  const body = encodeKtRestart(r);
  return { body, signature: await signLabelled(sig, orgPrivateKey, 'kt-restart', body) };
}

/** The statement, if the organisation key signed it and it is for `domain`; undefined otherwise (never throws). */
export async function verifyKtRestart(sig: Signature, orgPublicKey: Uint8Array, domain: string, body: Uint8Array, signature: Uint8Array): Promise<KtRestart | undefined> {
  let r: KtRestart;
  try {
    r = decodeKtRestart(body);
  } catch {
    return undefined;
  }
  if (r.domain !== domain) return undefined;
  return (await verifyLabelled(sig, orgPublicKey, 'kt-restart', body, signature)) ? r : undefined;
}
