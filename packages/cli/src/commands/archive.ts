// `sealpost archive`: the organisation's legal-hold archive service (docs/legal-hold.md) — enrolled once with the
// code from `sealpost admin archive create`, then kept running where the records are kept; and `archive export`.
import type { Command } from 'commander';
import { SealpostError, type MessageId } from '@sealpost/protocol';
import { jsonOption, required, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';
import { askSecret } from '../prompt.js';
import { ArchiveLog } from '../archive/archive-log.js';
import { archivePassphrase, logPath, openArchive, record, recordMissing } from '../archive/archive-store.js';
import { exportUser } from '../archive/archive-export.js';

const parseDate = (s: string | undefined, flag: string): number | undefined => {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new SealpostError('INVALID_INPUT', `${flag}: not a date: ${s.slice(0, 40)} (e.g. 2027-01-31 or 2027-01-31T17:00:00Z)`);
  return t;
};

export function registerArchiveCommands(program: Command): void {
  const archive = program
    .command('archive')
    .description("run the organisation's legal-hold archive: it receives the conversations of held users, and only theirs")
    .option('--server <url>', 'server URL, on the first run (env SEALPOST_SERVER)')
    .option('--data <dir>', "the archive's folder: its encrypted store and its log (env SEALPOST_ARCHIVE)")
    .option('--code <code>', 'on the first run: the activation code from `sealpost admin archive create`')
    .addOption(jsonOption())
    .action(async (o: { server?: string; data?: string; code?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const data = required(o.data ?? process.env.SEALPOST_ARCHIVE, '--data', 'SEALPOST_ARCHIVE');
      const passphrase = await archivePassphrase(askSecret, Boolean(o.code));
      const log = await ArchiveLog.open(logPath(data));
      const server = o.server ?? process.env.SEALPOST_SERVER;
      const { client, enrolled } = await openArchive(data, { ...(server ? { server } : {}), ...(o.code ? { code: o.code } : {}), passphrase, warn: (m) => out.warn(m) });
      const stop = new AbortController();
      try {
        if (enrolled) {
          log.append({ event: 'enrolled', user: client.user, device: client.device, server: client.server });
          out.result({ enrolled: client.user, device: client.device }, `enrolled the archive ${client.user} (device ${client.device}) on ${client.server}`);
        }
        await client.sync();
        const missing = recordMissing(client, log);
        if (missing > 0) out.info(`logged ${missing} message(s) stored before the last stop`);
        const end = () => stop.abort();
        process.once('SIGINT', end);
        process.once('SIGTERM', end);
        const say = (e: ReturnType<typeof record>) => {
          if (e?.event === 'stored') out.result(e, `stored ${e.kind} ${e.message} from ${e.from} in ${e.conversation} (log entry ${e.seq})`);
        };
        await client.watch(
          (m) => say(record(client, log, m.type === 'mail' ? m.thread : m.conversation, m.id as MessageId, m.type === 'mail' ? 'mail' : 'chat')),
          stop.signal,
          { onStatus: (s) => (s === 'online' ? out.result({ status: 'online', user: client.user }, `archive ${client.user} online; log at entry ${log.head.seq}`) : out.warn('connection lost; reconnecting')) },
        );
        process.off('SIGINT', end);
        process.off('SIGTERM', end);
        out.info('archive stopped');
      } finally {
        stop.abort();
        await client.close();
      }
    });

  archive
    .command('export')
    .description("one held user's records for a period: chat as JSON lines, mail as mbox with attachments, a manifest with hashes")
    .requiredOption('--user <user>', 'the held user')
    .option('--from <date>', 'from (ISO date or date-time)')
    .option('--to <date>', 'until (ISO date or date-time)')
    .requiredOption('--out <dir>', 'a new (or empty) folder for the export')
    .option('--data <dir>', "the archive's folder (env SEALPOST_ARCHIVE)")
    .addOption(jsonOption())
    .action(async (o: { user: string; from?: string; to?: string; out: string; data?: string } & JsonOpt) => {
      // --data and --json are also the archive command's own: given after `export`, commander may hand them to either.
      const parent = archive.opts<{ data?: string; json?: boolean }>();
      const out = makeOutput(Boolean(o.json ?? parent.json));
      const data = required(o.data ?? parent.data ?? process.env.SEALPOST_ARCHIVE, '--data', 'SEALPOST_ARCHIVE');
      const from = parseDate(o.from, '--from');
      const to = parseDate(o.to, '--to');
      const passphrase = await archivePassphrase(askSecret, false);
      const { client } = await openArchive(data, { passphrase, warn: (m) => out.warn(m) });
      try {
        // What the archive received since it last ran is in the export too.
        await client.sync();
        recordMissing(client, await ArchiveLog.open(logPath(data)));
        const res = await exportUser(client, data, {
          user: o.user,
          out: o.out,
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          onProgress: (done, total) => {
            if (!out.json && process.stderr.isTTY) process.stderr.write(`\rexporting ${done}/${total}`);
          },
        });
        if (!out.json && process.stderr.isTTY) process.stderr.write('\n');
        out.result({ ...res }, `exported ${res.chats} chat message(s) and ${res.mails} mail(s) of ${res.user} to ${res.out} (manifest sha256 ${res.manifest}); recorded in the archive's log and the server's audit log`);
      } finally {
        await client.close();
      }
    });
}
