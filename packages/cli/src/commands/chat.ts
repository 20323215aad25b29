// Chat: `send` (to users or a conversation), `sync`, `watch`, `outbox` (messages held for a contact's key change),
// `messages`, `unreadable`, `conversations`, and `conversation add|remove|rename`.
import type { Command } from 'commander';
import { SealpostError, limits, parseConversationId, type ConversationId } from '@sealpost/protocol';
import { ackArchivedOption, collect, jsonOption, profileOption, userList, withArchiveAck, withClient, type JsonOpt } from '../common.js';
import { humanMessage, humanReceived, sentLine } from '../format.js';
import { makeOutput } from '../output.js';
import { withProgress } from '../progress.js';
import { readTextFile, readTextStdin } from '../text-file.js';
import { oneLine } from '../terminal-safe.js';

export function registerChatCommands(program: Command): void {
  // ---- send ---------------------------------------------------------------------------------------------------
  program
    .command('send [text]')
    .description('send a message (and files) to users, reusing your chat with exactly them, or to a conversation; TEXT "-" reads standard input')
    .addOption(profileOption())
    .option('--to <users>', 'comma-separated user ids')
    .option('--conversation <id>', 'conversation id')
    .option('--text-file <file>', 'the text, from a UTF-8 file (instead of TEXT)')
    .option('--file <path>', 'attach a file (repeatable)', collect)
    .addOption(ackArchivedOption())
    .addOption(jsonOption())
    .action(async (arg: string | undefined, o: { profile?: string; to?: string; conversation?: string; textFile?: string; file?: string[]; ackArchived?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      if (Boolean(o.to) === Boolean(o.conversation)) throw new SealpostError('INVALID_INPUT', 'give exactly one of --to or --conversation');
      if (arg !== undefined && o.textFile !== undefined) throw new SealpostError('INVALID_INPUT', 'give the text or --text-file, not both');
      // From a file or a pipe, the final line break is the file's, not the message's.
      const text =
        o.textFile !== undefined
          ? (await readTextFile(o.textFile, '--text-file')).replace(/\r?\n$/, '')
          : arg === '-'
            ? (await readTextStdin('text', limits.maxTextChars * 4)).replace(/\r?\n$/, '')
            : arg;
      const target = o.conversation ? { conversation: parseConversationId(o.conversation) } : { to: userList(o.to) };
      await withClient(o, out, async (c) => {
        const res = await withArchiveAck(c, o, out, () => withProgress('upload', out.json, (p) => c.send(target, text ?? '', { files: o.file ?? [], ...p })));
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
        // A person sees where they are connected and when the connection drops and comes back (on stderr: stdout
        // carries only messages, for scripts; nothing extra with --json).
        const say = (line: string) => {
          if (!out.json) process.stderr.write(`${line}\n`);
        };
        say(`watching as ${c.user} on ${c.server} — messages appear as they arrive; Ctrl-C to stop`);
        let online = false;
        await c.watch((m) => out.result({ ...m }, humanReceived(m)), ac.signal, {
          onStatus: (status, retryMs) => {
            if (status === 'online' && !online) say('connected');
            if (status === 'reconnecting') say(`connection lost; trying again in ${Math.round((retryMs ?? 0) / 1000) || 1} s`);
            online = status === 'online';
          },
        });
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
          const value = {
            id: conv.id,
            kind: conv.kind,
            ...(conv.name ? { name: conv.name } : {}),
            members: conv.members,
            suite: conv.suite,
            ...(conv.status === 'active' ? {} : { status: conv.status }),
            ...(conv.archived ? { archived: conv.archived } : {}),
          };
          const name = conv.name ? `"${oneLine(conv.name)}"\t` : '';
          const archived = conv.archived
            ? `\tARCHIVED since ${conv.archived.since} (legal hold on ${conv.archived.holds.map((h) => h.user).join(', ') || 'a member'})`
            : '';
          out.result(value, `${conv.id}\t${conv.kind}\t${name}${conv.members.join(', ')}${conv.status === 'active' ? '' : `\t(${conv.status})`}\t${conv.suite}${archived}`);
        }
      });
    });


  const conversation = program.command('conversation').description('change who is in a conversation, or its name');
  conversation
    .command('rename <name>')
    .description('name a conversation for all its members (an empty name "" removes it)')
    .addOption(profileOption())
    .requiredOption('--conversation <id>', 'conversation id')
    .addOption(jsonOption())
    .action(async (name: string, o: { profile?: string; conversation: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const id = parseConversationId(o.conversation);
      await withClient(o, out, async (c) => {
        await c.renameConversation(id, name);
        out.result({ conversation: id, name: name.trim() }, name.trim() ? `named ${id} "${oneLine(name.trim())}" for everyone in it` : `removed the name of ${id}`);
      });
    });
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
}
