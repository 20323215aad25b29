// neomutt (a mail program nobody here wrote), driven in tmux as a person would — keys in, screen read back: it opens
// the bridge's INBOX, reads a Sealpost mail, and replies; the reply reaches the sender as a Sealpost mail.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startTestServer, tempDir, type TestClient, type TestServer } from '../helpers.js';
import { until } from '../mail-peers.js';
import { startBridgeProcess, stopBridge, type BridgeProcess } from '../bridge-process.js';

const why = existsSync('/usr/bin/neomutt') && existsSync('/usr/bin/tmux') ? undefined : 'neomutt or tmux is not installed (apt-get install neomutt tmux; .ci/run does)';
if (why) console.warn(`bridge-neomutt: skipped — ${why}`);

let server: TestServer;
let alice: TestClient;
let bridge: BridgeProcess;
const session = `sealpost-neomutt-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session);

beforeAll(async () => {
  if (why) return;
  server = await startTestServer();
  alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  await alice.client.sendMail({ to: ['bob@localhost'], subject: 'lunch on friday?', text: 'Shall we have lunch on Friday?' });
  await bob.client.sync();
  await bob.client.close();
  bridge = await startBridgeProcess(bob.profile);
  const dir = tempDir('neomutt');
  // The "editor" a person would type the reply in: it writes the reply text under the quoted mail.
  const editor = join(dir, 'editor.sh');
  writeFileSync(editor, '#!/bin/sh\nprintf "Friday works for me.\\n\\n" | cat - "$1" > "$1.new" && mv "$1.new" "$1"\n');
  chmodSync(editor, 0o755);
  writeFileSync(
    join(dir, 'neomuttrc'),
    [
      `set folder="imap://127.0.0.1:${bridge.imap}/"`,
      'set spoolfile="+INBOX"',
      'set imap_user="bob@localhost"',
      `set imap_pass="${bridge.password}"`,
      `set smtp_url="smtp://bob@localhost@127.0.0.1:${bridge.smtp}/"`,
      `set smtp_pass="${bridge.password}"`,
      'set ssl_starttls=no',
      'set ssl_force_tls=no',
      'set from="bob@localhost"',
      'set use_from=yes',
      `set editor="${editor}"`,
      'set fast_reply=yes',
      'set include=yes',
      'set record=""',
      'set postponed=""',
      'set mail_check=1',
      'set timeout=1',
      `set header_cache="${dir}/hcache"`,
      'set sort=date',
    ].join('\n') + '\n',
  );
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', `TERM=xterm neomutt -n -F ${join(dir, 'neomuttrc')}`);
}, 120_000);

afterAll(async () => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already gone
  }
  if (bridge) await stopBridge(bridge);
  await server?.close();
});

it.skipIf(why !== undefined)('reads a mail and replies to it', async () => {
  await until(() => (screen().includes('lunch on friday?') ? true : undefined), 20_000, 'the INBOX listing in neomutt');
  tmux('send-keys', '-t', session, 'Enter');
  await until(() => (screen().includes('Shall we have lunch on Friday?') ? true : undefined), 10_000, 'the mail opened in neomutt');
  tmux('send-keys', '-t', session, 'r');
  // After the editor: the compose screen; "y" sends.
  await until(() => (/y:Send|Send/.test(screen()) ? true : undefined), 10_000, 'the compose screen');
  tmux('send-keys', '-t', session, 'y');
  const reply = await until(async () => {
    await alice.client.sync();
    return alice.client.mailList('inbox').find((m) => m.subject === 'Re: lunch on friday?');
  }, 20_000, 'the reply at alice');
  expect(alice.client.readMail(reply.id).text).toContain('Friday works for me.');
  // The reply written in neomutt joins the Sealpost thread it answers, as a reply from the CLI would.
  const original = alice.client.mailList('sent').find((m) => m.subject === 'lunch on friday?')!;
  expect(reply.thread).toBe(original.thread);
  expect(reply.inReplyTo).toBe(original.messageId);
});
