// The `sealpost` command line: server, admin, enroll, send, sync, watch, messages, conversations.
// Scriptable: every command takes --json (one JSON object per line on stdout); failures exit non-zero with a
// stable error code on stderr.
import { Command, CommanderError, Option } from 'commander';
import { SealpostError, parseConversationId, type ConversationId } from '@sealpost/protocol';
import { SealpostClient, type ChatMessage, type HeldInfo, type MailSummary, type Received } from '@sealpost/client';
import { adminApi, jsonOption, newPassphrase, parseListen, policyNeedsPassphrase, profileOf, profileOption, required, withClient, type JsonOpt } from './common.js';
import { registerAdminCommands } from './commands/admin.js';
import { registerDeviceCommands } from './commands/devices.js';
import { registerProfileCommands } from './commands/profile.js';
import { registerKtCommands } from './commands/kt.js';
import { makeOutput, reportError, type Output } from './output.js';
import { withProgress } from './progress.js';
import { readTextFile } from './text-file.js';
import { indented, oneLine } from './terminal-safe.js';

const VERSION = '0.1.0';

const when = (iso: string) => iso.replace('T', ' ').slice(0, 19);
const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`);
// Other people's words (texts, subjects, file names) go through terminal-safe.ts: no control characters, and no
// line of theirs can pass for one of ours.
const fileList = (files: { id: string; name: string; size: number }[] | undefined) =>
  (files ?? []).map((f) => `\n    📎 ${oneLine(f.name)} (${size(f.size)}) id ${f.id}`).join('');

function humanMessage(m: ChatMessage): string {
  return `[${when(m.sentAt)}] ${m.conversation} ${m.from}: ${indented(m.text)}${fileList(m.attachments)}`;
}

function humanMail(m: MailSummary): string {
  const flag = m.unread ? '*' : ' ';
  return `${flag} ${m.id}  ${when(m.date)}  ${m.from} → ${[...m.to, ...m.cc].join(', ')}  ${oneLine(m.subject)}${m.attachments.length > 0 ? ` [${m.attachments.length} file(s)]` : ''}`;
}

function humanReceived(r: Received): string {
  return r.type === 'mail' ? `[${when(r.date)}] mail ${r.id} from ${r.from}: ${oneLine(r.subject)}${fileList(r.attachments)}` : humanMessage(r);
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const userList = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/** `2G`, `500M`, `64K`, `1GiB` or plain bytes. */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(s.trim());
  if (!m) throw new SealpostError('INVALID_INPUT', `${flag}: expected a size like 2G, 500M or 1048576, got ${JSON.stringify(s)}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * mult);
}


export function buildProgram(): Command {
  const program = new Command('sealpost')
    .description('Sealpost: end-to-end encrypted chat on MLS, self-hosted')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  // ---- server -------------------------------------------------------------------------------------------------
  program
    .command('server')
    .description('run a Sealpost server (SQLite in the data folder)')
    .option('--data <dir>', 'data folder', 'sealpost-data')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--domain <domain>', 'the domain of user ids on this server', 'localhost')
    .option('--db <url>', 'keep durable state in PostgreSQL (postgres://…[?schema=NAME]) instead of SQLite in --data')
    .option('--bus <url>', 'push across server nodes over NATS (nats://…) instead of in-process')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure-http', 'serve plain HTTP on a non-loopback address (only behind a TLS proxy)')
    .option('--secret-file <file>', 'the server secret that seals the keys in the database (default: server-secret in --data; every node of a cluster needs the same file)')
    .option('--insecure-no-rate-limits', 'turn off every per-address and per-device rate limit (load tests on loopback only)')
    .option('--max-file-size <size>', 'largest encrypted file, e.g. 2G', '2G')
    .option('--user-quota <size>', 'encrypted file storage per user, e.g. 20G', '20G')
    .option('--min-free-disk <size>', 'refuse uploads while less than this is free on the data volume, so the database can grow', '1G')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
    .addOption(jsonOption())
    .action(async (o: { data: string; listen: string; domain: string; db?: string; bus?: string; tlsCert?: string; tlsKey?: string; insecureHttp?: boolean; secretFile?: string; insecureNoRateLimits?: boolean; maxFileSize: string; userQuota: string; minFreeDisk: string; logLevel: string } & JsonOpt) => {
      const { startServer } = await import('@sealpost/server');
      const { host, port } = parseListen(o.listen);
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new SealpostError('INVALID_INPUT', '--tls-cert and --tls-key go together');
      const started = await startServer({
        dataDir: o.data,
        ...(o.db ? { db: o.db } : {}),
        ...(o.bus ? { bus: o.bus } : {}),
        host,
        port,
        domain: o.domain,
        logLevel: o.logLevel,
        maxBlobBytes: parseSize(o.maxFileSize, '--max-file-size'),
        userQuotaBytes: parseSize(o.userQuota, '--user-quota'),
        minFreeBytes: parseSize(o.minFreeDisk, '--min-free-disk'),
        // Logs go to stderr so that stdout carries only what a script reads.
        logDestination: process.stderr,
        ...(o.tlsCert && o.tlsKey ? { tls: { certFile: o.tlsCert, keyFile: o.tlsKey } } : {}),
        ...(o.insecureHttp ? { insecureHttp: true } : {}),
        ...(o.insecureNoRateLimits ? { rateLimits: 'off' as const } : {}),
        ...(o.secretFile ? { secretFile: o.secretFile } : {}),
        onAdminToken: (token, file) => {
          if (o.json) process.stdout.write(`${JSON.stringify({ adminToken: token, adminTokenFile: file })}\n`);
          else process.stdout.write(`Admin token (shown once; also saved to ${file}):\n  ${token}\n`);
        },
      });
      if (o.json) process.stdout.write(`${JSON.stringify({ listening: started.url, domain: o.domain, data: o.data })}\n`);
      else process.stdout.write(`Sealpost listening on ${started.url} (domain ${o.domain}, data in ${o.data})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          // A graceful close gets 10 s; a dependency that does not let go (a bus reconnecting, a stuck database
          // connection) must not keep a node that was told to stop alive.
          const force = setTimeout(() => {
            process.stderr.write('sealpost: shutdown took longer than 10 s; exiting anyway\n');
            process.exit(1);
          }, 10_000);
          force.unref();
          void started.close().then(
            () => {
              resolve();
              // Nothing else to wait for: exit even if a library left a timer or socket behind.
              setImmediate(() => process.exit(0));
            },
            () => resolve(),
          );
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });

  // ---- admin --------------------------------------------------------------------------------------------------
  const admin = program.command('admin').description('administer users (needs the admin token)');
  const adminUser = admin.command('user').description('users of this server');
  adminUser
    .command('add <user>')
    .description('create a user and print a one-time activation code')
    .option('--name <name>', 'display name')
    .option('--server <url>', 'server URL (env SEALPOST_SERVER)')
    .option('--token <token>', 'admin token (env SEALPOST_ADMIN_TOKEN)')
    .addOption(jsonOption())
    .action(async (user: string, o: { name?: string; server?: string; token?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ user: string; activationCode: string; expiresAt: string }>(
        'POST',
        '/v1/admin/users',
        { user, ...(o.name ? { name: o.name } : {}) },
        { admin: token },
      );
      out.result(
        { user: res.user, activationCode: res.activationCode, expiresAt: res.expiresAt },
        `${res.user}: activation code ${res.activationCode} (one-time, expires ${res.expiresAt})`,
      );
    });
  adminUser
    .command('list')
    .description('list users')
    .option('--server <url>', 'server URL (env SEALPOST_SERVER)')
    .option('--token <token>', 'admin token (env SEALPOST_ADMIN_TOKEN)')
    .addOption(jsonOption())
    .action(async (o: { server?: string; token?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const { api, token } = adminApi(o);
      const res = await api.request<{ users: { user: string; name: string | null; status: string; devices: number; createdAt: string }[] }>(
        'GET',
        '/v1/admin/users',
        undefined,
        { admin: token },
      );
      for (const u of res.users) out.result(u, `${u.user}\t${u.status}\t${u.devices} device(s)\t${oneLine(u.name ?? '')}`.trimEnd());
    });

  registerAdminCommands(admin, adminUser);
  registerDeviceCommands(program);
  registerProfileCommands(program);
  registerKtCommands(program);

  // ---- enroll -------------------------------------------------------------------------------------------------
  program
    .command('enroll')
    .description('enroll this device with an activation code: makes the account and device keys here')
    .option('--server <url>', 'server URL (env SEALPOST_SERVER)')
    .requiredOption('--user <user@domain>', 'your user id')
    .requiredOption('--code <code>', 'the activation code from your admin')
    .addOption(profileOption())
    .option('--device-name <name>', 'a name for this device')
    .option('--passphrase', 'encrypt the local store with a passphrase (asked, or SEALPOST_PASSPHRASE); required when policy says so')
    .addOption(jsonOption())
    .action(async (o: { server?: string; user: string; code: string; profile?: string; deviceName?: string; passphrase?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const server = required(o.server ?? process.env.SEALPOST_SERVER, '--server', 'SEALPOST_SERVER');
      const passphrase = await newPassphrase(Boolean(o.passphrase) || (await policyNeedsPassphrase(server)));
      const client = await SealpostClient.enroll(
        { server, user: o.user, code: o.code, profile: profileOf(o), ...(o.deviceName ? { deviceName: o.deviceName } : {}) },
        { warn: (m) => out.warn(m), ...(passphrase ? { passphrase } : {}) },
      );
      out.result({ user: client.user, device: client.device, server: client.server }, `enrolled ${client.user} (device ${client.device}) on ${client.server}`);
      await client.close();
    });

  // ---- send ---------------------------------------------------------------------------------------------------
  program
    .command('send [text]')
    .description('send a message (and files) to users, reusing your chat with exactly them, or to a conversation')
    .addOption(profileOption())
    .option('--to <users>', 'comma-separated user ids')
    .option('--conversation <id>', 'conversation id')
    .option('--file <path>', 'attach a file (repeatable)', collect)
    .addOption(jsonOption())
    .action(async (text: string | undefined, o: { profile?: string; to?: string; conversation?: string; file?: string[] } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      if (Boolean(o.to) === Boolean(o.conversation)) throw new SealpostError('INVALID_INPUT', 'give exactly one of --to or --conversation');
      const target = o.conversation ? { conversation: parseConversationId(o.conversation) } : { to: userList(o.to) };
      await withClient(o, out, async (c) => {
        const res = await withProgress('upload', out.json, (p) => c.send(target, text ?? '', { files: o.file ?? [], ...p }));
        out.result(res, sentLine(res, `sent ${res.id} to ${res.conversation}`));
      });
    });

  // ---- receiving ----------------------------------------------------------------------------------------------
  program
    .command('sync')
    .description('fetch, decrypt and acknowledge everything pending; print the new messages')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const msgs = await c.sync();
        for (const m of msgs) out.result({ ...m }, humanReceived(m));
        if (msgs.length === 0) out.info('no new messages');
      });
    });

  program
    .command('watch')
    .description('stay connected and print messages as they arrive (Ctrl-C to stop)')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await c.watch((m) => out.result({ ...m }, humanReceived(m)), ac.signal);
      });
    });

  program
    .command('outbox')
    .description("messages held back until a recipient's new account key is settled (its contest period, or your verifying the new safety number)")
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const held = c.heldMessages();
        for (const h of held) out.result({ ...h }, `${h.createdAt.slice(0, 19).replace('T', ' ')}\t${h.kind} ${h.id}\tto ${h.to.join(', ')}\twaiting for ${h.waitingFor.join(', ')}`);
        if (held.length === 0) out.info('nothing held');
      });
    });

  program
    .command('messages')
    .description('print message history from this device')
    .addOption(profileOption())
    .option('--conversation <id>', 'only this conversation')
    .addOption(jsonOption())
    .action(async (o: { profile?: string; conversation?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const conv: ConversationId | undefined = o.conversation ? parseConversationId(o.conversation) : undefined;
      await withClient(o, out, async (c) => {
        for (const m of c.messages(conv)) out.result({ ...m }, humanMessage(m));
      });
    });

  program
    .command('unreadable')
    .description('queue items this device could not read and skipped (who sent them, when, why; never content)')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const items = c.unreadable();
        for (const u of items) {
          const value = { seq: u.seq ?? null, conversation: u.conversation ?? null, kind: u.kind ?? null, from: u.fromUser ?? null, at: new Date(u.at).toISOString(), reason: u.reason };
          out.result(value, `${value.at}\t${value.kind ?? '?'}\tfrom ${value.from ?? '?'}\tseq ${value.seq ?? '?'}\t${value.reason}`);
        }
        if (items.length === 0) out.info('nothing was skipped');
      });
    });

  program
    .command('conversations')
    .description('list conversations on this device')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        for (const conv of c.conversations()) {
          const value = { id: conv.id, kind: conv.kind, members: conv.members, ...(conv.status === 'active' ? {} : { status: conv.status }) };
          out.result(value, `${conv.id}\t${conv.kind}\t${conv.members.join(', ')}${conv.status === 'active' ? '' : `\t(${conv.status})`}`);
        }
      });
    });


  // ---- mail ---------------------------------------------------------------------------------------------------
  const mail = program.command('mail').description('end-to-end encrypted mail: threads, Cc, Bcc, attachments');
  const bodyOf = async (o: { body?: string; bodyFile?: string }): Promise<string> => {
    if ((o.body === undefined) === (o.bodyFile === undefined)) throw new SealpostError('INVALID_INPUT', 'give exactly one of --body or --body-file');
    return o.body ?? (await readTextFile(o.bodyFile!, 'body'));
  };
  mail
    .command('send')
    .description('send a mail; each Bcc recipient gets a separate copy that no one else sees')
    .addOption(profileOption())
    .requiredOption('--to <users>', 'comma-separated recipients')
    .option('--cc <users>', 'comma-separated Cc recipients')
    .option('--bcc <users>', 'comma-separated Bcc recipients')
    .requiredOption('--subject <subject>', 'subject')
    .option('--body <text>', 'plain-text body')
    .option('--body-file <file>', 'read the plain-text body from a file')
    .option('--html-file <file>', 'an HTML body, from a file')
    .option('--attach <file>', 'attach a file (repeatable)', collect)
    .addOption(jsonOption())
    .action(async (o: { profile?: string; to: string; cc?: string; bcc?: string; subject: string; body?: string; bodyFile?: string; htmlFile?: string; attach?: string[] } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const text = await bodyOf(o);
      const html = o.htmlFile ? await readTextFile(o.htmlFile, 'html') : undefined;
      await withClient(o, out, async (c) => {
        const draft = { to: userList(o.to), cc: userList(o.cc), bcc: userList(o.bcc), subject: o.subject, text, ...(html ? { html } : {}), attach: o.attach ?? [] };
        const res = await withProgress('upload', out.json, (p) => c.sendMail(draft, p));
        out.result(res, sentLine(res, `sent mail ${res.id} (thread ${res.thread})`));
      });
    });
  mail
    .command('list')
    .description('list mail in a folder (run `sealpost sync` first to fetch new mail)')
    .addOption(profileOption())
    .addOption(new Option('--folder <folder>', 'inbox or sent').choices(['inbox', 'sent']).default('inbox'))
    .addOption(jsonOption())
    .action(async (o: { profile?: string; folder: 'inbox' | 'sent' } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const list = c.mailList(o.folder);
        for (const m of list) {
          const { type: _type, messageId: _mid, inReplyTo: _irt, references: _refs, ...shown } = m;
          out.result(shown, humanMail(m));
        }
        if (list.length === 0) out.info(`no mail in ${o.folder}`);
      });
    });
  mail
    .command('read <id>')
    .description('show a mail and mark it read')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const m = c.readMail(id);
        const { type: _type, ...shown } = m;
        const head = [
          `From: ${m.from}`,
          `To: ${m.to.join(', ')}`,
          ...(m.cc.length > 0 ? [`Cc: ${m.cc.join(', ')}`] : []),
          ...(m.bcc ? [`Bcc: ${m.bcc.join(', ')}`] : []),
          `Date: ${m.date}`,
          `Subject: ${oneLine(m.subject)}`,
          `Message-ID: ${m.messageId}`,
          ...(m.inReplyTo ? [`In-Reply-To: ${m.inReplyTo}`] : []),
          ...m.attachments.map((f) => `Attachment: ${oneLine(f.name)} (${oneLine(f.type)}, ${size(f.size)}) id ${f.id}`),
        ];
        out.result(shown, `${head.join('\n')}\n\n${m.text}`);
      });
    });
  mail
    .command('reply <id>')
    .description('reply to the sender (or with --all to everyone, in the same thread)')
    .addOption(profileOption())
    .option('--all', 'reply to all recipients')
    .option('--body <text>', 'plain-text body')
    .option('--body-file <file>', 'read the body from a file')
    .option('--attach <file>', 'attach a file (repeatable)', collect)
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; all?: boolean; body?: string; bodyFile?: string; attach?: string[] } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const text = await bodyOf(o);
      await withClient(o, out, async (c) => {
        const res = await withProgress('upload', out.json, (p) => c.replyMail(id, { all: Boolean(o.all), text, attach: o.attach ?? [] }, p));
        out.result(res, sentLine(res, `sent reply ${res.id} (thread ${res.thread})`));
      });
    });
  mail
    .command('forward <id>')
    .description('forward a mail with its attachments, in a new thread')
    .addOption(profileOption())
    .requiredOption('--to <users>', 'comma-separated recipients')
    .option('--cc <users>', 'comma-separated Cc recipients')
    .option('--body <text>', 'a note above the forwarded mail')
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; to: string; cc?: string; body?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const res = await c.forwardMail(id, { to: userList(o.to), cc: userList(o.cc), ...(o.body ? { text: o.body } : {}) });
        out.result(res, sentLine(res, `forwarded as ${res.id} (thread ${res.thread})`));
      });
    });
  mail
    .command('delete <id>')
    .description('delete a mail from this device (its files are released on the server when nothing else here uses them)')
    .addOption(profileOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const m = c.readMail(id);
        await c.deleteMessage(m.thread, m.id);
        out.result({ deleted: m.id }, `deleted mail ${m.id}`);
      });
    });

  // ---- files --------------------------------------------------------------------------------------------------
  const files = program.command('files').description('attachments of chat messages and mail');
  files
    .command('get <attachmentId>')
    .description('download, verify and decrypt an attachment')
    .addOption(profileOption())
    .requiredOption('--out <path>', 'where to save it')
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; out: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const f = await withProgress('download', out.json, (p) => c.saveAttachment(id, o.out, p));
        out.result({ ...f, out: o.out }, `saved ${oneLine(f.name)} (${size(f.size)}) to ${o.out}`);
      });
    });

  const conversation = program.command('conversation').description('change who is in a conversation');
  for (const verb of ['add', 'remove'] as const) {
    conversation
      .command(`${verb} <user>`)
      .description(verb === 'add' ? 'add a user (all their devices)' : 'remove a user (all their devices)')
      .addOption(profileOption())
      .requiredOption('--conversation <id>', 'conversation id')
      .addOption(jsonOption())
      .action(async (user: string, o: { profile?: string; conversation: string } & JsonOpt) => {
        const out = makeOutput(Boolean(o.json));
        const id = parseConversationId(o.conversation);
        await withClient(o, out, async (c) => {
          if (verb === 'add') await c.addMember(id, user);
          else await c.removeMember(id, user);
          const members = c.conversations().find((x) => x.id === id)?.members ?? [];
          out.result({ conversation: id, [verb === 'add' ? 'added' : 'removed']: user, members }, `${verb === 'add' ? 'added' : 'removed'} ${user}; members: ${members.join(', ')}`);
        });
      });
  }
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram();
  if (json) program.configureOutput({ writeErr: () => {} });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      const message = err.message.replace(/^error: /, '');
      if (json) return reportError(new SealpostError('INVALID_INPUT', message), true);
      return err.exitCode || 2;
    }
    return reportError(err, json);
  }
}

/** What a send prints: where it went, or that it waits in the outbox, why and until when. */
function sentLine(res: { id: string; held?: HeldInfo }, sent: string): string {
  if (!res.held) return sent;
  return `HELD ${res.id} in the outbox, not sent yet: ${res.held.reason}. It goes out by itself on a later command once accepted (sealpost outbox lists what waits).`;
}
