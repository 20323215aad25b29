// What every command shares: required options with their environment fallbacks, opening a profile (asking for
// its passphrase when it has one), the admin API client.
import { Option } from 'commander';
import { SealpostError } from '@sealpost/protocol';
import { ArchiveNotAcknowledged, HttpApi, ProfileStore, SealpostClient, normaliseServerUrl } from '@sealpost/client';
import type { Output } from './output.js';
import { askSecret, confirm } from './prompt.js';

export interface JsonOpt {
  json?: boolean;
}

export function required(value: string | undefined, flag: string, env: string): string {
  if (value && value.length > 0) return value;
  throw new SealpostError('INVALID_INPUT', `${flag} is required (or set ${env})`);
}

export const profileOption = () => new Option('--profile <dir>', 'profile folder of this device (env SEALPOST_PROFILE)');
export const jsonOption = () => new Option('--json', 'print one JSON object per line');

export function profileOf(o: { profile?: string }): string {
  return required(o.profile ?? process.env.SEALPOST_PROFILE, '--profile', 'SEALPOST_PROFILE');
}

/** The passphrase of an encrypted profile: SEALPOST_PASSPHRASE, else asked on the terminal, else an error. */
export async function passphraseFor(profile: string): Promise<string | undefined> {
  if (!ProfileStore.isEncrypted(profile)) return undefined;
  if (process.env.SEALPOST_PASSPHRASE) return process.env.SEALPOST_PASSPHRASE;
  if (!process.stdin.isTTY) throw new SealpostError('PASSPHRASE_REQUIRED', 'this profile is encrypted: set SEALPOST_PASSPHRASE');
  return askSecret('Passphrase: ');
}

/** A passphrase for a new profile: SEALPOST_PASSPHRASE, or asked twice on a terminal when `ask` (policy or --passphrase). */
export async function newPassphrase(ask: boolean): Promise<string | undefined> {
  if (process.env.SEALPOST_PASSPHRASE) return process.env.SEALPOST_PASSPHRASE;
  if (!ask) return undefined;
  if (!process.stdin.isTTY) throw new SealpostError('PASSPHRASE_REQUIRED', 'a passphrase is needed for this profile: set SEALPOST_PASSPHRASE');
  const a = await askSecret('New passphrase: ');
  const b = await askSecret('Repeat passphrase: ');
  if (a !== b) throw new SealpostError('INVALID_INPUT', 'the two passphrases differ');
  return a;
}

export async function withClient<T>(o: { profile?: string }, out: Output, fn: (c: SealpostClient) => Promise<T>): Promise<T> {
  const profile = profileOf(o);
  const passphrase = await passphraseFor(profile);
  const client = await SealpostClient.open(profile, { warn: (m) => out.warn(m), ...(passphrase ? { passphrase } : {}) });
  try {
    const result = await fn(client);
    // A contact's changed account key is said after every command until the user verifies the new number: on
    // stdout for a person (where it cannot be missed), on stderr with --json (stdout stays one object per line).
    // So are messages held for a contested key change, and those discarded because the change was refused.
    const notes = [
      ...client.unacknowledgedKeyChanges().map(
        (k) => `NOTE: ${k.user}'s account key changed on ${k.at.slice(0, 10)} (an admin reset, in the key-transparency log). Compare the new safety number with them: sealpost verify ${k.user} --confirm NUMBER`,
      ),
      ...heldNotes(client.heldMessages()),
      ...client.takeDiscardedMessages().map((d) => `NOTE: your ${d.kind} message ${d.id} to ${d.to.join(', ')} was NOT sent and is discarded: ${d.reason}`),
    ];
    for (const line of notes) {
      if (out.json) out.warn(line);
      else out.info(line);
    }
    return result;
  } finally {
    await client.close();
  }
}

function heldNotes(held: { waitingFor: string[] }[]): string[] {
  if (held.length === 0) return [];
  const users = [...new Set(held.flatMap((h) => h.waitingFor))];
  return [
    `NOTE: ${held.length} message(s) wait in the outbox because the account key of ${users.join(', ')} changed and is in its contest period; they go out once it ends unobjected, or at once if you compare the new safety number (sealpost verify USER). See: sealpost outbox`,
  ];
}

export const serverOption = () => new Option('--server <url>', 'server URL (env SEALPOST_SERVER)');
export const tokenOption = () => new Option('--token <token>', 'admin token (env SEALPOST_ADMIN_TOKEN)');

export function adminApi(o: { server?: string; token?: string }): { api: HttpApi; token: string } {
  const server = normaliseServerUrl(required(o.server ?? process.env.SEALPOST_SERVER, '--server', 'SEALPOST_SERVER'));
  const token = required(o.token ?? process.env.SEALPOST_ADMIN_TOKEN, '--token', 'SEALPOST_ADMIN_TOKEN');
  return { api: new HttpApi(server), token };
}

/** Whether the server's policy requires an encrypted local store (asked before a new profile is made). */
export async function policyNeedsPassphrase(server: string): Promise<boolean> {
  const info = await new HttpApi(normaliseServerUrl(server)).request<{ policy?: { requirePassphrase?: boolean } }>('GET', '/v1/info', undefined, 'none');
  return info.policy?.requirePassphrase === true;
}

/** `HOST:PORT` or `[IPv6]:PORT`, for --listen. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new SealpostError('INVALID_INPUT', `--listen: expected HOST:PORT, got ${JSON.stringify(s)}`);
  return { host: (m[1] ?? m[2])!, port };
}

/** For repeatable options (`--file A --file B`). */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
/** `a@x, b@x` → [`a@x`, `b@x`]. */
export const userList = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/** `2G`, `500M`, `64K`, `1GiB` or plain bytes. */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(s.trim());
  if (!m) throw new SealpostError('INVALID_INPUT', `${flag}: expected a size like 2G, 500M or 1048576, got ${JSON.stringify(s)}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * mult);
}

export const ackArchivedOption = () =>
  new Option('--ack-archived', "send even where your organisation's archive records under a legal hold (asked once per hold; without a terminal this flag is how to say yes)");

/**
 * A send where the organisation's archive records under a legal hold this user has not yet confirmed seeing
 * (client legal-hold.ts): said once, then confirmed by `--ack-archived` or a yes at the terminal, and sent again.
 */
export async function withArchiveAck<T>(c: SealpostClient, o: { ackArchived?: boolean }, out: Output, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof ArchiveNotAcknowledged)) throw err;
    if (!o.ackArchived) {
      if (out.json || !process.stdin.isTTY) throw new SealpostError('ARCHIVE_NOT_ACKNOWLEDGED', `${err.message} (pass --ack-archived)`);
      if (!(await confirm(`${err.message}. Send?`))) throw new SealpostError('CANCELLED', 'not sent');
    }
    out.info(`noted: ${err.message.replace(/; confirm once.*$/, '')}`);
    c.acknowledgeArchived(err.holds.map((h) => h.id));
    return send();
  }
}
