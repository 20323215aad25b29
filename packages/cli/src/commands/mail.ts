// `sealpost mail …`: send (To, Cc, Bcc, attachments), list, read, reply, forward, delete.
import { Option, type Command } from 'commander';
import { SealpostError } from '@sealpost/protocol';
import { collect, jsonOption, profileOption, userList, withClient, type JsonOpt, ackArchivedOption, withArchiveAck } from '../common.js';
import { humanMail, sentLine, size } from '../format.js';
import { makeOutput } from '../output.js';
import { withProgress } from '../progress.js';
import { readTextFile } from '../text-file.js';
import { confirm } from '../prompt.js';
import { oneLine } from '../terminal-safe.js';

export function registerMailCommands(program: Command): void {
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
    .option('--send-readable', 'send to outside addresses without a known OpenPGP key without asking (the copy leaves readable)')
    .addOption(ackArchivedOption())
    .addOption(jsonOption())
    .action(async (o: { profile?: string; to: string; cc?: string; bcc?: string; subject: string; body?: string; bodyFile?: string; htmlFile?: string; attach?: string[]; sendReadable?: boolean; ackArchived?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const text = await bodyOf(o);
      const html = o.htmlFile ? await readTextFile(o.htmlFile, 'html') : undefined;
      await withClient(o, out, async (c) => {
        const draft = { to: userList(o.to), cc: userList(o.cc), bcc: userList(o.bcc), subject: o.subject, text, ...(html ? { html } : {}), attach: o.attach ?? [] };
        // Said before anything is sent: which outside copies would leave readable by the server and the receiving provider.
        const domain = c.user.slice(c.user.indexOf('@') + 1);
        const outside = [...draft.to, ...draft.cc].filter((a) => a.includes('@') && a.slice(a.lastIndexOf('@') + 1).toLowerCase() !== domain);
        const readable = c.outsideWithoutKey(outside);
        let allowReadable = Boolean(o.sendReadable);
        if (readable.length > 0 && !allowReadable) {
          const note = `no OpenPGP key is known for ${readable.join(', ')}: the copy to ${readable.length === 1 ? 'them' : 'these addresses'} leaves readable by this server and the receiving provider`;
          if (out.json || !process.stdin.isTTY) throw new SealpostError('OUTSIDE_MAIL_NEEDS_KEY', `${note}; import their key (sealpost contacts import-key FILE) or pass --send-readable`);
          allowReadable = await confirm(`${note}. Send anyway?`);
          if (!allowReadable) throw new SealpostError('CANCELLED', 'not sent');
        }
        const res = await withArchiveAck(c, o, out, () => withProgress('upload', out.json, (p) => c.sendMail(draft, { ...p, allowReadable })));
        const how = res.outside ? `; outside copy to ${res.outside.recipients.join(', ')} ${res.outside.encrypted ? 'OpenPGP-encrypted' : 'readable (no key known)'}` : '';
        out.result(res, sentLine(res, `sent mail ${res.id} (thread ${res.thread})${how}`));
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
          ...(m.outside
            ? [
                `Outside mail: ${m.outside.encrypted ? `OpenPGP-encrypted, signature ${m.outside.signature}` : 'not encrypted'}; SPF ${m.outside.auth.spf}, DKIM ${m.outside.auth.dkim}, DMARC ${m.outside.auth.dmarc}`,
                ...m.outside.attachments.map((f) => `Attachment: ${oneLine(f.name)} (${oneLine(f.type)}, ${size(f.size)})${f.id ? ` id ${f.id}` : ' (not kept: too large)'}`),
                ...m.outside.warnings.map((w) => `WARNING: ${oneLine(w)}`),
              ]
            : []),
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
    .addOption(ackArchivedOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; all?: boolean; body?: string; bodyFile?: string; attach?: string[]; ackArchived?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const text = await bodyOf(o);
      await withClient(o, out, async (c) => {
        const res = await withArchiveAck(c, o, out, () => withProgress('upload', out.json, (p) => c.replyMail(id, { all: Boolean(o.all), text, attach: o.attach ?? [] }, p)));
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
    .addOption(ackArchivedOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; to: string; cc?: string; body?: string; ackArchived?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const res = await withArchiveAck(c, o, out, () => c.forwardMail(id, { to: userList(o.to), cc: userList(o.cc), ...(o.body ? { text: o.body } : {}) }));
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
}
