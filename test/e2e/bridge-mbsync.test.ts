// mbsync (Debian's isync, a mail synchroniser nobody here wrote) keeping a Maildir in sync with the bridge: new mail
// comes down, flags go both ways, and a restarted bridge makes it download nothing again.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { startTestServer, tempDir, type TestClient, type TestServer } from '../helpers.js';
import { run } from '../mail-peers.js';
import { startBridgeProcess, stopBridge, type BridgeProcess } from '../bridge-process.js';

const why = existsSync('/usr/bin/mbsync') ? undefined : 'mbsync is not installed (apt-get install isync; .ci/run does)';
if (why) console.warn(`bridge-mbsync: skipped — ${why}`);

let server: TestServer;
let alice: TestClient;
let bob: TestClient;
let bridge: BridgeProcess;
let password: string;
let dir: string;

function config(): string {
  const file = join(dir, 'mbsyncrc');
  writeFileSync(
    file,
    [
      'IMAPAccount sealpost',
      'Host 127.0.0.1',
      `Port ${bridge.imap}`,
      'User bob@localhost',
      `Pass ${password}`,
      'SSLType None',
      'AuthMechs LOGIN',
      '',
      'IMAPStore remote',
      'Account sealpost',
      '',
      'MaildirStore local',
      `Path ${join(dir, 'mail')}/`,
      `Inbox ${join(dir, 'mail', 'INBOX')}`,
      '',
      'Channel sealpost',
      'Far :remote:',
      'Near :local:',
      'Patterns INBOX Archive',
      'Create Near',
      'Sync All',
      'SyncState *',
      '',
    ].join('\n'),
  );
  return file;
}

const mbsync = async () => (await run('mbsync', ['-c', config(), '-V', 'sealpost'])).stdout;
const files = (box: string) => ['new', 'cur'].flatMap((d) => (existsSync(join(dir, 'mail', box, d)) ? readdirSync(join(dir, 'mail', box, d)).map((f) => join(dir, 'mail', box, d, f)) : []));

beforeAll(async () => {
  if (why) return;
  server = await startTestServer();
  alice = await server.enroll('alice');
  bob = await server.enroll('bob');
  for (const s of ['one', 'two', 'three']) await alice.client.sendMail({ to: ['bob@localhost'], subject: s, text: `mail ${s}` });
  await bob.client.sync();
  await bob.client.close();
  dir = tempDir('mbsync');
  mkdirSync(join(dir, 'mail'), { recursive: true });
  bridge = await startBridgeProcess(bob.profile);
  password = bridge.password!;
}, 120_000);

afterAll(async () => {
  if (bridge) await stopBridge(bridge);
  await server?.close();
});

it.skipIf(why !== undefined)('syncs down, carries flags both ways, and downloads nothing again after a bridge restart', async () => {
  await mbsync();
  expect(files('INBOX')).toHaveLength(3);
  // Read on the Maildir side (the mail program marks it seen: ",S" in its file name) …
  const first = files('INBOX')[0]!;
  const seenName = first.includes(':2,') ? `${first}S` : `${first.replace(/\/new\//, '/cur/')}:2,S`;
  renameSync(first, seenName);
  await mbsync();
  // … is \Seen in the bridge; flagged in the bridge shows up as "F" in the Maildir.
  const c = new ImapFlow({ host: '127.0.0.1', port: bridge.imap, secure: false, auth: { user: 'bob@localhost', pass: password }, logger: false });
  await c.connect();
  await c.mailboxOpen('INBOX');
  expect(await c.search({ seen: true })).toHaveLength(1);
  const unseen = (await c.search({ seen: false })) as number[];
  await c.messageFlagsAdd(String(unseen[0]), ['\\Flagged']);
  await c.logout();
  await mbsync();
  expect(files('INBOX').filter((f) => /:2,[A-Z]*F/.test(f))).toHaveLength(1);
  // New Sealpost mail comes down.
  await alice.client.sendMail({ to: ['bob@localhost'], subject: 'four', text: 'mail four' });
  await new Promise((r) => setTimeout(r, 1500)); // the bridge's watch files it
  await mbsync();
  expect(files('INBOX')).toHaveLength(4);
  // A restarted bridge: same UIDVALIDITY and UIDs, so mbsync fetches nothing and changes nothing.
  const before = files('INBOX').sort();
  await stopBridge(bridge);
  bridge = await startBridgeProcess(bob.profile);
  const out = await mbsync();
  expect(files('INBOX').sort()).toEqual(before);
  expect(out).not.toMatch(/UIDVALIDITY/i);
});
