// mbsync (Debian's isync, a mail synchroniser nobody here wrote) keeping a Maildir in sync with the bridge: new mail
// comes down, flags go both ways, a draft written locally goes up, and neither a restarted bridge nor an upgraded one
// (bridge.db and the kept renderings from the previous release) makes it download anything again.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SealpostClient } from '@sealpost/client';
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
      'Patterns INBOX Archive Drafts',
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

it.skipIf(why !== undefined)('a draft written on the Maildir side goes up to Drafts; an upgraded bridge re-downloads nothing', async () => {
  // A draft the mail program keeps locally (Maildir "D" flag) is APPENDed by mbsync and kept on the device.
  mkdirSync(join(dir, 'mail', 'Drafts', 'cur'), { recursive: true });
  writeFileSync(join(dir, 'mail', 'Drafts', 'cur', `${Date.now()}.1.local:2,DS`), 'From: bob@localhost\nTo: alice@localhost\nSubject: unsent thoughts\n\nto be continued\n');
  await mbsync();
  const c = new ImapFlow({ host: '127.0.0.1', port: bridge.imap, secure: false, auth: { user: 'bob@localhost', pass: password }, logger: false });
  await c.connect();
  await c.mailboxOpen('Drafts');
  const up = await c.fetchOne('1', { source: true, flags: true });
  // As mbsync sent it: the draft with mbsync's own X-TUID header (how it recognises the message it uploaded).
  expect((up as { source: Buffer }).source.toString()).toMatch(/^From: bob@localhost\r\nTo: alice@localhost\r\nSubject: unsent thoughts\r\nX-TUID: \S+\r\n\r\nto be continued\r\n$/);
  expect([...(up as { flags: Set<string> }).flags]).toEqual(expect.arrayContaining(['\\Draft', '\\Seen']));
  const uidsBefore = { inbox: (await c.mailboxOpen('INBOX')).uidValidity, list: await c.search({ all: true }, { uid: true }) };
  await c.logout();
  await mbsync();

  // The previous release's state: bridge.db in its first layout (no user_version, no INTERNALDATE column), and the
  // renderings it kept in the profile in a form this version does not read.
  const before = [...files('INBOX'), ...files('Drafts')].sort();
  await stopBridge(bridge);
  const db = new Database(join(bob.profile, 'bridge.db'));
  db.exec('ALTER TABLE messages DROP COLUMN internal_date');
  db.pragma('user_version = 0');
  db.close();
  const profile = await SealpostClient.open(bob.profile);
  for (const m of profile.mailList('inbox')) profile.setDerivedMail(m.id, new TextEncoder().encode('a rendering kept by an older bridge'));
  await profile.close();

  bridge = await startBridgeProcess(bob.profile);
  const out = await mbsync();
  expect([...files('INBOX'), ...files('Drafts')].sort()).toEqual(before);
  expect(out).not.toMatch(/UIDVALIDITY/i);
  const d = new ImapFlow({ host: '127.0.0.1', port: bridge.imap, secure: false, auth: { user: 'bob@localhost', pass: password }, logger: false });
  await d.connect();
  const inbox = await d.mailboxOpen('INBOX');
  expect({ inbox: inbox.uidValidity, list: await d.search({ all: true }, { uid: true }) }).toEqual(uidsBefore);
  // The mail still opens: rendered again where the old rendering could not be read.
  const one = await d.fetchOne('1', { source: true });
  expect((one as { source: Buffer }).source.toString()).toContain('mail one');
  await d.logout();
  // bridge.db was upgraded in place (read once the bridge, which holds it exclusively, has stopped).
  await stopBridge(bridge);
  const upgraded = new Database(join(bob.profile, 'bridge.db'), { readonly: true });
  expect(upgraded.pragma('user_version', { simple: true })).toBe(2);
  upgraded.close();
});
