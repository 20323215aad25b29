// `sealpost archive export` (docs/legal-hold.md): one held user's records for a period — chat as JSON lines, mail as
// an mbox with its attachments, every chat file beside them, and a manifest with each file's SHA-256. Each message is
// checked against the hash the log recorded when it was stored; the export itself is logged and reported to the
// server's audit log (who, when, which user and period, counts and the manifest's hash — never content).
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SealpostError, parseUserId, type ConversationId, type MessageId, type UserId } from '@sealpost/protocol';
import type { SealpostClient, MailFull } from '@sealpost/client';
import { attachmentsOf, downloadStream, renderMail, renderMailOf } from '../bridge/render.js';
import { ArchiveLog, type LogEntry } from './archive-log.js';
import { archivedMessage, digest, logPath } from './archive-store.js';

export interface ExportResult {
  user: UserId;
  out: string;
  chats: number;
  mails: number;
  files: number;
  manifest: string;
}

type Stored = Extract<LogEntry, { event: 'stored' }>;

/** A file name from a sender's file name: no folders, no control characters, at most 100 characters. */
const safeName = (name: string) => name.replace(/[\u0000-\u001f\u007f/\\:]/g, '_').replace(/^\.+/, '_').slice(0, 100) || 'file';

export async function exportUser(
  client: SealpostClient,
  data: string,
  opts: { user: string; from?: number; to?: number; out: string; onProgress?: (done: number, total: number) => void },
): Promise<ExportResult> {
  const user = parseUserId(opts.user.includes('@') ? opts.user : `${opts.user}@${client.user.slice(client.user.indexOf('@') + 1)}`);
  if (opts.from !== undefined && opts.to !== undefined && opts.from > opts.to) throw new SealpostError('INVALID_INPUT', '--from is after --to');
  if (existsSync(opts.out) && readdirSync(opts.out).length > 0) throw new SealpostError('INVALID_INPUT', `--out: ${opts.out} is not empty; an export goes into a new folder`);
  // The whole chain is checked before anything is read out of it.
  const wanted: Stored[] = [];
  const log = await ArchiveLog.open(logPath(data), (e) => {
    if (e.event !== 'stored' || !e.members.includes(user)) return;
    const t = Date.parse(e.sentAt);
    if ((opts.from === undefined || t >= opts.from) && (opts.to === undefined || t <= opts.to)) wanted.push(e);
  });
  // Only a user the organisation held, as published in the key-transparency log (in force or released).
  if (!(await client.holdOf(user))) {
    throw new SealpostError('HOLD_NOT_FOUND', `${user} was never under a legal hold: the archive holds nothing of theirs`);
  }
  mkdirSync(join(opts.out, 'files'), { recursive: true });
  const files: { path: string; bytes: number; sha256: string }[] = [];
  const hashed = async (path: string, source: Readable | Iterable<Buffer | string>) => {
    const h = createHash('sha256');
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        h.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(Readable.from(source), count, createWriteStream(join(opts.out, path), { flags: 'wx', mode: 0o600 }));
    files.push({ path, bytes, sha256: h.digest('hex') });
  };
  const check = (e: Stored) => {
    const m = archivedMessage(client, e.conversation as ConversationId, e.message as MessageId, e.kind);
    if (!m) throw new SealpostError('ARCHIVE_LOG_BROKEN', `message ${e.message} (log entry ${e.seq}) is no longer in the archive's store`);
    if (digest(m) !== e.sha256) throw new SealpostError('ARCHIVE_LOG_BROKEN', `message ${e.message} in the archive's store differs from what log entry ${e.seq} recorded`);
    return m;
  };

  let chats = 0;
  let mails = 0;
  let done = 0;
  const chatLines: string[] = [];
  for (const e of wanted.filter((w) => w.kind === 'chat')) {
    const m = check(e);
    if (m.kind !== 'chat') continue;
    const attachments = [];
    for (const [i, a] of (m.message.attachments ?? []).entries()) {
      const path = `files/${e.message}-${i + 1}-${safeName(a.name)}`;
      await hashed(path, downloadStream((sink) => client.saveAttachment(a.id, sink)));
      attachments.push({ name: a.name, type: a.type, size: a.size, file: path });
    }
    chatLines.push(JSON.stringify({ conversation: e.conversation, id: e.message, from: m.message.from, sentAt: m.message.sentAt, members: e.members, text: m.message.text, attachments }));
    chats++;
    opts.onProgress?.(++done, wanted.length);
  }
  await hashed('chat.jsonl', chatLines.map((l) => `${l}\n`));

  // mboxrd: a "From " line before each message, LF line ends, and every line that starts with ">*From " gets one more ">".
  const mailEntries = wanted.filter((w) => w.kind === 'mail');
  await hashed(
    'mail.mbox',
    Readable.from(
      (async function* () {
        for (const e of mailEntries) {
          const m = check(e);
          if (m.kind !== 'mail') continue;
          const full = m.message as MailFull;
          const atts = attachmentsOf(full);
          const rendered = await renderMail(renderMailOf(full), atts, (i) => downloadStream((sink) => client.saveAttachment(atts[i]!.id, sink)));
          yield Buffer.from(`From ${full.from} ${new Date(full.date).toUTCString().replace(/,/g, '')}\n`);
          yield* mboxLines(rendered.raw ? Readable.from([rendered.raw]) : rendered.open!(''));
          yield Buffer.from('\n');
          mails++;
          opts.onProgress?.(++done, wanted.length);
        }
      })(),
    ),
  );

  const manifest = {
    user,
    from: opts.from !== undefined ? new Date(opts.from).toISOString() : null,
    to: opts.to !== undefined ? new Date(opts.to).toISOString() : null,
    exportedAt: new Date().toISOString(),
    archive: { user: client.user, device: client.device },
    log: log.head,
    chats,
    mails,
    files,
  };
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  writeFileSync(join(opts.out, 'manifest.json'), manifestText, { flag: 'wx', mode: 0o600 });
  const manifestHash = createHash('sha256').update(manifestText).digest('hex');
  log.append({ event: 'exported', user, from: manifest.from, to: manifest.to, chats, mails, manifest: manifestHash });
  await client.reportArchiveExport({ user, ...(manifest.from ? { from: manifest.from } : {}), ...(manifest.to ? { to: manifest.to } : {}), chats, mails, manifest: manifestHash });
  return { user, out: opts.out, chats, mails, files: files.length, manifest: manifestHash };
}

/** A message's bytes as mboxrd lines: CRLF to LF, ">From " quoting; streamed, the partial line kept between chunks. */
async function* mboxLines(source: Readable): AsyncGenerator<Buffer> {
  let rest = '';
  const quote = (line: string) => (/^>*From /.test(line) ? `>${line}` : line);
  for await (const chunk of source) {
    const text = rest + (chunk as Buffer).toString('latin1');
    const lines = text.split('\n');
    rest = lines.pop()!;
    if (lines.length > 0) yield Buffer.from(`${lines.map((l) => quote(l.replace(/\r$/, ''))).join('\n')}\n`, 'latin1');
  }
  if (rest.length > 0) yield Buffer.from(`${quote(rest.replace(/\r$/, ''))}\n`, 'latin1');
}
