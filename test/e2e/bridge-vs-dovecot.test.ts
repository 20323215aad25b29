// A differential test: the same imapflow script against Dovecot (a private instance holding the same messages) and
// against the bridge; the answers compared on what mail programs rely on — counts, UIDs that only grow, flags, sizes,
// envelopes and the BODYSTRUCTURE of a mail with attachments.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow, type FetchMessageObject } from 'imapflow';
import { startTestServer, tempDir, type TestClient, type TestServer } from '../helpers.js';
import { startBridgeProcess, stopBridge, type BridgeProcess } from '../bridge-process.js';
import { dovecotUnavailable, startDovecot, type Dovecot } from '../dovecot.js';

const why = dovecotUnavailable();
if (why) console.warn(`bridge-vs-dovecot: skipped — ${why}`);

let server: TestServer;
let bridge: BridgeProcess;
let dovecot: Dovecot;
let password: string;

const connectTo = async (port: number, user: string, pass: string) => {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, logger: false });
  await c.connect();
  return c;
};

/** What a mail program would do on first contact and after a few changes; what it saw, in comparable form. */
async function script(c: ImapFlow) {
  const seen: Record<string, unknown> = {};
  const box = await c.mailboxOpen('INBOX');
  seen.exists = box.exists;
  const msgs: FetchMessageObject[] = [];
  for await (const m of c.fetch('1:*', { uid: true, flags: true, size: true, envelope: true, bodyStructure: true })) msgs.push(m);
  seen.uidsGrow = msgs.every((m, i) => i === 0 || m.uid > msgs[i - 1]!.uid);
  // \Recent is left out: Dovecot sets it, the bridge does not (IMAP4rev2, RFC 9051, dropped it; clients ignore it).
  seen.flags = msgs.map((m) => [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort());
  seen.sizes = msgs.map((m) => m.size);
  seen.envelopes = msgs.map((m) => ({ subject: m.envelope?.subject, from: m.envelope?.from?.map((a) => a.address), to: m.envelope?.to?.map((a) => a.address), messageId: m.envelope?.messageId }));
  const strip = (n: unknown): unknown =>
    n && typeof n === 'object'
      ? Object.fromEntries(Object.entries(n as Record<string, unknown>).filter(([k]) => !['part', 'md5', 'language', 'location'].includes(k)).map(([k, v]) => [k, Array.isArray(v) ? v.map(strip) : strip(v)]))
      : n;
  seen.structures = msgs.map((m) => strip(m.bodyStructure));
  await c.messageFlagsAdd('1', ['\\Seen']);
  await c.messageFlagsAdd('2', ['\\Flagged']);
  seen.unseen = await c.search({ seen: false });
  seen.flagged = await c.search({ flagged: true });
  await c.messageMove('3', 'Archive');
  seen.afterMove = (await c.status('INBOX', { messages: true, unseen: true })) as object;
  seen.archive = ((await c.status('Archive', { messages: true })) as { messages: number }).messages;
  return seen;
}

beforeAll(async () => {
  if (why) return;
  server = await startTestServer();
  const alice: TestClient = await server.enroll('alice');
  const bob: TestClient = await server.enroll('bob');
  const file = join(tempDir('diff'), 'figures.pdf');
  writeFileSync(file, Buffer.alloc(20_000, 3));
  // Text over several lines: Sealpost keeps it with LF, a message has CRLF (Dovecot would count, and store, CRLF).
  await alice.client.sendMail({ to: ['bob@localhost'], subject: 'plain', text: 'just text\nover three\nlines\n' });
  await alice.client.sendMail({ to: ['bob@localhost'], cc: ['alice@localhost'], subject: 'with html', text: 'text part', html: '<p>html part</p>' });
  await alice.client.sendMail({ to: ['bob@localhost'], subject: 'with attachment', text: 'see attached', attach: [file] });
  await bob.client.sync();
  await bob.client.close();
  bridge = await startBridgeProcess(bob.profile);
  password = bridge.password!;
  dovecot = await startDovecot();
  // Dovecot gets the same messages: exactly the bytes the bridge serves, appended in the same order.
  const b = await connectTo(bridge.imap, 'bob@localhost', password);
  await b.mailboxOpen('INBOX', { readOnly: true });
  const sources: Buffer[] = [];
  for await (const m of b.fetch('1:*', { source: true })) sources.push(m.source!);
  await b.logout();
  const d = await connectTo(dovecot.port, dovecot.user, dovecot.password);
  await d.mailboxCreate('Archive');
  for (const s of sources) await d.append('INBOX', s, []);
  await d.logout();
}, 120_000);

afterAll(async () => {
  if (bridge) await stopBridge(bridge);
  await dovecot?.stop();
  await server?.close();
});

it.skipIf(why !== undefined)('answers like Dovecot on counts, UIDs, flags, sizes, envelopes and BODYSTRUCTURE', async () => {
  const fromBridge = await script(await connectTo(bridge.imap, 'bob@localhost', password));
  const fromDovecot = await script(await connectTo(dovecot.port, dovecot.user, dovecot.password));
  expect(fromBridge).toEqual(fromDovecot);
  expect(fromBridge.exists).toBe(3);
  expect(fromBridge.uidsGrow).toBe(true);
});

/** Drafts as mail programs save them: Thunderbird's shape (text and HTML, a forwarded message, a file), and plain. */
const drafts = [
  [
    'From: Bob <bob@localhost>',
    'To: "Alice A." <alice@localhost>, team: carol@localhost, dave@localhost;',
    'Subject: =?UTF-8?Q?half-written_r=C3=A9sum=C3=A9?=',
    'Message-ID: <draft-1@localhost>',
    'Date: Mon, 07 Dec 2026 09:00:00 +0100',
    'MIME-Version: 1.0',
    'X-Mozilla-Draft-Info: internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0',
    'Content-Type: multipart/mixed; boundary="------------mixed01"',
    '',
    'This is a multi-part message in MIME format.',
    '--------------mixed01',
    'Content-Type: multipart/alternative; boundary="------------alt02"',
    '',
    '--------------alt02',
    'Content-Type: text/plain; charset=UTF-8; format=flowed',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Not finished yet.',
    '',
    '--------------alt02',
    'Content-Type: text/html; charset=UTF-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    '<p>Not finished yet.</p>',
    '',
    '--------------alt02--',
    '--------------mixed01',
    'Content-Type: message/rfc822; name="forwarded.eml"',
    'Content-Disposition: attachment; filename="forwarded.eml"',
    '',
    'From: Carol <carol@example.org>',
    'To: bob@localhost',
    'Subject: the figures',
    'Date: Sun, 06 Dec 2026 18:00:00 +0000',
    'Message-ID: <fwd-1@example.org>',
    '',
    'Figures attached upstream.',
    '',
    '--------------mixed01',
    'Content-Type: application/pdf; name="a.pdf"',
    'Content-Disposition: attachment; filename="a.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.alloc(3000, 9).toString('base64').replace(/.{76}/g, '$&\r\n'),
    '--------------mixed01--',
    '',
  ].join('\r\n'),
  'From: bob@localhost\r\nSubject: note to self\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nremember the milk\r\n',
];

async function draftScript(c: ImapFlow) {
  const seen: Record<string, unknown> = {};
  const appended = [];
  for (const d of drafts) appended.push(await c.append('Drafts', d, ['\\Draft', '\\Seen'], new Date('2026-12-07T08:30:00Z')));
  seen.appendUids = appended.map((a) => (a as { uid?: number }).uid !== undefined);
  await c.mailboxOpen('Drafts');
  const msgs: FetchMessageObject[] = [];
  for await (const m of c.fetch('1:*', { uid: true, flags: true, size: true, envelope: true, bodyStructure: true, internalDate: true, source: true, bodyParts: ['1', '1.1', '1.2', '2', '3', '2.MIME', 'TEXT'] }))
    msgs.push(m);
  seen.flags = msgs.map((m) => [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort());
  seen.sizes = msgs.map((m) => m.size);
  seen.internalDates = msgs.map((m) => new Date(m.internalDate as Date).toISOString());
  seen.sameBytes = msgs.map((m, i) => m.source!.toString('latin1') === drafts[i]);
  seen.envelopes = msgs.map((m) => m.envelope);
  seen.structures = msgs.map((m) => m.bodyStructure);
  seen.parts = msgs.map((m) => Object.fromEntries([...(m.bodyParts ?? new Map())].map(([k, v]) => [k, (v as Buffer).toString('latin1')])));
  seen.search = await c.search({ subject: 'note to self' });
  await c.messageDelete('1');
  seen.afterDelete = ((await c.status('Drafts', { messages: true })) as { messages: number }).messages;
  await c.logout();
  return seen;
}

it.skipIf(why !== undefined)('keeps the drafts a mail program saves, byte for byte, and describes them like Dovecot', async () => {
  const d = await connectTo(dovecot.port, dovecot.user, dovecot.password);
  await d.mailboxCreate('Drafts').catch(() => {});
  const fromDovecot = await draftScript(d);
  const fromBridge = await draftScript(await connectTo(bridge.imap, 'bob@localhost', password));
  expect(fromBridge).toEqual(fromDovecot);
  expect(fromBridge.sameBytes).toEqual([true, true]);
  expect(fromBridge.afterDelete).toBe(1);
});
