// What the gateway does with bad or hostile input: each gets a clear SMTP code (or is stored whole), nothing is
// stored half, and a sender's retry of a message it already handed over is shown once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { smtpTalk, until } from '../mail-peers.js';

let server: TestServer;
let alice: TestClient;
let port: number;
beforeAll(async () => {
  server = await startTestServer({ smtp: { host: '127.0.0.1', port: 0, maxBytes: 2 * 1024 * 1024 }, rateLimits: { smtpRecipients: { burst: 5000, perMinute: 5000 } } });
  alice = await server.enroll('alice');
  await alice.client.sync(); // publishes nothing new, but signs in
  port = server.started.smtpPort!;
});
afterAll(() => server?.close());

const message = (subject: string, extra = '', body = 'hello') => Buffer.from(`From: x@outside.example\r\nTo: alice@localhost\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@outside.example>\r\n${extra}\r\n${body}\r\n.\r\n`, 'latin1');
const send = (data: Buffer, rcpts = ['alice@localhost']) =>
  smtpTalk(port, ['EHLO tester.example', 'MAIL FROM:<x@outside.example>', ...rcpts.map((r) => `RCPT TO:<${r}>`), 'DATA', { data }, 'QUIT']);

async function inboxSubjects(): Promise<string[]> {
  await alice.client.sync();
  return alice.client.mailList('inbox').map((m) => m.subject);
}

it('1,000 recipients: the first 100 are taken, the rest get 452 (RFC 5321 §4.5.3.1.10), and the mail arrives once', async () => {
  const rcpts = Array.from({ length: 1000 }, () => 'alice@localhost');
  const replies = await send(message('a thousand'), rcpts);
  const rcptReplies = replies.slice(3, 1003);
  expect(rcptReplies.filter((r) => r.startsWith('250'))).toHaveLength(100);
  expect(rcptReplies.slice(100).every((r) => r.startsWith('452 4.5.3'))).toBe(true);
  expect(replies.at(-2)).toMatch(/^250/);
  await until(async () => ((await inboxSubjects()).includes('a thousand') ? true : undefined), 15_000, 'the mail');
  expect((await inboxSubjects()).filter((s) => s === 'a thousand')).toHaveLength(1);
});

it('a 1 MB header, 8-bit headers and malformed MIME are stored whole and shown; nothing is half stored', async () => {
  const long = `X-Long: ${'a'.repeat(1024 * 1024)}\r\n`;
  expect((await send(message('long header', long))).at(-2)).toMatch(/^250/);
  expect((await send(message('8bit \xe4\xf6\xfc header'))).at(-2)).toMatch(/^250/);
  const broken = Buffer.from('From: x@outside.example\r\nTo: alice@localhost\r\nSubject: broken mime\r\nContent-Type: multipart/mixed; boundary="nope"\r\n\r\n--nope\r\nContent-Type: text/plain\r\n\r\nhalf a part with no end\r\n.\r\n');
  expect((await send(broken)).at(-2)).toMatch(/^250/);
  const subjects = await until(async () => {
    const s = await inboxSubjects();
    return s.includes('long header') && s.includes('broken mime') && s.some((x) => x.startsWith('8bit')) ? s : undefined;
  }, 15_000, 'the three mails');
  expect(subjects.filter((s) => s === 'long header')).toHaveLength(1);
  expect(alice.client.unreadable()).toEqual([]);
});

it('a message over the size limit gets 552 and nothing is stored; the connection stays usable', async () => {
  const before = (await inboxSubjects()).length;
  const big = message('too big', '', 'z'.repeat(3 * 1024 * 1024));
  const replies = await send(big);
  expect(replies.at(-2)).toMatch(/^552 5\.3\.4/);
  expect((await inboxSubjects()).length).toBe(before);
});

it('a sender that retries a message it already handed over (it lost our 250) gets 250 again and the user sees it once', async () => {
  const m = message('sent twice');
  expect((await send(m)).at(-2)).toMatch(/^250/);
  expect((await send(m)).at(-2)).toMatch(/^250/);
  await until(async () => ((await inboxSubjects()).includes('sent twice') ? true : undefined), 15_000, 'the mail');
  await new Promise((r) => setTimeout(r, 300));
  expect((await inboxSubjects()).filter((s) => s === 'sent twice')).toHaveLength(1);
});
