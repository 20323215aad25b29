// The archive service's store (docs/legal-hold.md): the archive account's device profile — kept encrypted under a
// passphrase, always — holds every message it receives; the log (archive-log.ts) records each one as it is stored.
// The archive never sends, never reads its mail as "read" and never commits: it only receives what the members of
// a held user's conversations deliver to it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SealpostError, type ConversationId, type MessageId } from '@sealpost/protocol';
import { ProfileStore, SealpostClient, type ChatMessage, type MailFull } from '@sealpost/client';
import { ArchiveLog, type LogEntry } from './archive-log.js';

export const profileDir = (data: string) => join(data, 'profile');
export const logPath = (data: string) => join(data, 'archive.log');

/** The archive's passphrase: SEALPOST_PASSPHRASE or asked; an archive without one is refused (its store is always encrypted). */
export async function archivePassphrase(ask: (q: string) => Promise<string>, isNew: boolean): Promise<string> {
  const env = process.env.SEALPOST_PASSPHRASE;
  if (env) return env;
  if (!process.stdin.isTTY) throw new SealpostError('PASSPHRASE_REQUIRED', "the archive's store is always encrypted: set SEALPOST_PASSPHRASE");
  const a = await ask(isNew ? 'New archive passphrase: ' : 'Archive passphrase: ');
  if (isNew && (await ask('Repeat passphrase: ')) !== a) throw new SealpostError('INVALID_INPUT', 'the two passphrases differ');
  return a;
}

/** The archive's device: enrolled into DIR/profile on the first run (with the code from `admin archive create`), opened after. */
export async function openArchive(
  data: string,
  opts: { server?: string; code?: string; passphrase: string; warn: (m: string) => void },
): Promise<{ client: SealpostClient; enrolled: boolean }> {
  const profile = profileDir(data);
  if (existsSync(profile) && ProfileStore.exists(profile)) {
    if (opts.code) throw new SealpostError('PROFILE_EXISTS', `${data} already holds an enrolled archive; start it without --code`);
    if (!ProfileStore.isEncrypted(profile)) throw new SealpostError('PASSPHRASE_REQUIRED', `the archive in ${data} is not encrypted; it was not made by \`sealpost archive\``);
    return { client: await SealpostClient.open(profile, { warn: opts.warn, passphrase: opts.passphrase }), enrolled: false };
  }
  if (!opts.server || !opts.code) {
    throw new SealpostError('INVALID_INPUT', `no archive in ${data} yet: give --server and --code (the activation code from \`sealpost admin archive create\`)`);
  }
  const client = await SealpostClient.enroll(
    { server: opts.server, user: 'sealpost-archive', code: opts.code, profile, deviceName: 'legal-hold archive' },
    { warn: opts.warn, passphrase: opts.passphrase },
  );
  return { client, enrolled: true };
}

/** A message as the archive keeps and exports it; its SHA-256 is what the log records. */
export type ArchivedMessage = { kind: 'chat'; message: ChatMessage } | { kind: 'mail'; message: Omit<MailFull, 'unread'> };

export function archivedMessage(client: SealpostClient, conversation: ConversationId, id: MessageId, kind: 'chat' | 'mail'): ArchivedMessage | undefined {
  if (kind === 'mail') {
    try {
      const { unread: _unread, ...m } = client.peekMail(id);
      return { kind, message: m };
    } catch {
      return undefined;
    }
  }
  const m = client.messages(conversation, { last: 1_000_000 }).find((x) => x.id === id);
  return m ? { kind, message: m } : undefined;
}

export const digest = (m: ArchivedMessage) => createHash('sha256').update(JSON.stringify(m.message)).digest('hex');

/** Log a message the store now holds (once; a message already logged is left alone). */
export function record(client: SealpostClient, log: ArchiveLog, conversation: ConversationId, id: MessageId, kind: 'chat' | 'mail'): LogEntry | undefined {
  if (log.stored.has(id)) return undefined;
  const m = archivedMessage(client, conversation, id, kind);
  if (!m) return undefined;
  const members = client.conversations().find((c) => c.id === conversation)?.members ?? [];
  return log.append({
    event: 'stored',
    conversation,
    message: id,
    kind,
    from: m.message.from,
    sentAt: kind === 'mail' ? (m.message as MailFull).date : (m.message as ChatMessage).sentAt,
    members,
    sha256: digest(m),
  });
}

/** After a restart: what the store received but the log does not hold yet (a stop between the two) is logged now. */
export function recordMissing(client: SealpostClient, log: ArchiveLog): number {
  let n = 0;
  for (const c of client.conversations()) {
    for (const m of client.messages(c.id, { last: 1_000_000 })) if (record(client, log, c.id, m.id, 'chat')) n++;
  }
  for (const m of [...client.mailList('inbox'), ...client.mailList('sent')]) if (record(client, log, m.thread, m.id as MessageId, 'mail')) n++;
  return n;
}
