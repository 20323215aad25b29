// Outside mail from the command line, as an admin and a user script it: the server with its SMTP gateway and a route,
// the DNS records, a readable send refused without consent in --json, keys imported and listed, the queue, policy.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestClient, type TestServer } from '../helpers.js';
import { gpgIn, makeGpgKey, run, startSink, until, type Sink } from '../mail-peers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
interface Run { code: number; stdout: string; stderr: string }
const sealpost = (args: string[], env: Record<string, string> = {}) =>
  new Promise<Run>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

let server: TestServer;
let alice: TestClient;
let sink: Sink;
let env: Record<string, string>;
beforeAll(async () => {
  sink = await startSink({ refuse: (r) => (r.startsWith('later@') ? 451 : undefined) });
  server = await startTestServer({ outbound: { routes: { 'outside.example': `127.0.0.1:${sink.port}` }, retryMs: [300], giveUpMs: 2_000 } });
  alice = await server.enroll('alice');
  await alice.client.close(); // the CLI takes the profile from here on
  env = { SEALPOST_SERVER: server.url, SEALPOST_ADMIN_TOKEN: server.adminToken, SEALPOST_PROFILE: alice.profile };
});
afterAll(async () => {
  await server?.close();
  await sink?.close();
});

it('admin mail dns prints the records to publish, the DKIM key among them', async () => {
  const r = await sealpost(['admin', 'mail', 'dns', '--mx', 'mx.example.org', '--json'], env);
  expect(r.code).toBe(0);
  const recs = lines(r.stdout);
  expect(recs.map((x) => x.type)).toEqual(expect.arrayContaining(['MX', 'TXT']));
  expect(recs.find((x) => String(x.name).startsWith('sealpost1._domainkey.'))?.value).toMatch(/^v=DKIM1; k=rsa; p=/);
});

it('a readable outside send needs consent: refused in --json without --send-readable, sent with it', async () => {
  const refused = await sealpost(['mail', 'send', '--to', 'carol@outside.example', '--subject', 'hi', '--body', 'x', '--json'], env);
  expect(refused.code).toBe(1);
  expect(JSON.parse(refused.stderr.trim()).error.code).toBe('OUTSIDE_MAIL_NEEDS_KEY');
  const sent = await sealpost(['mail', 'send', '--to', 'carol@outside.example', '--subject', 'hi', '--body', 'x', '--send-readable', '--json'], env);
  expect(sent.code).toBe(0);
  expect(lines(sent.stdout)[0]!.outside).toMatchObject({ recipients: ['carol@outside.example'], encrypted: false });
  await until(() => sink.messages.find((m) => m.to.includes('carol@outside.example')), 15_000, 'delivery');
});

it('contacts import-key and keys show the fingerprint; my-key gives the own key to GnuPG', async () => {
  const gnupg = tempDir('gnupg-cli');
  const fpr = await makeGpgKey(gpgIn(gnupg), 'Frank <frank@outside.example>', 'frank@outside.example');
  const keyFile = join(gnupg, 'frank.asc');
  writeFileSync(keyFile, (await run('gpg', ['--homedir', gnupg, '--armor', '--export', 'frank@outside.example'])).stdout);
  const imp = await sealpost(['contacts', 'import-key', keyFile, '--json'], env);
  expect(lines(imp.stdout)[0]).toMatchObject({ address: 'frank@outside.example', fingerprint: fpr });
  const keys = await sealpost(['contacts', 'keys'], env);
  expect(keys.stdout).toContain(fpr);
  const mine = await sealpost(['contacts', 'my-key', '--json'], env);
  const own = lines(mine.stdout)[0] as { armored: string; fingerprint: string };
  writeFileSync(join(gnupg, 'alice.asc'), own.armored);
  const imported = await run('gpg', ['--homedir', gnupg, '--batch', '--import', join(gnupg, 'alice.asc')]);
  expect(imported.stderr).toMatch(/imported: 1/);
  const bad = join(gnupg, 'bad.asc');
  writeFileSync(bad, 'not a key');
  const refused = await sealpost(['contacts', 'import-key', bad, '--json'], env);
  expect(JSON.parse(refused.stderr.trim()).error.code).toBe('OPENPGP_INVALID');
});

it('admin mail queue shows a message waiting on a temporary failure; after the give-up time it bounces to the sender', async () => {
  await sealpost(['mail', 'send', '--to', 'later@outside.example', '--subject', 'waits', '--body', 'x', '--send-readable'], env);
  const waiting = await until(async () => {
    const q = lines((await sealpost(['admin', 'mail', 'queue', '--json'], env)).stdout);
    return q.find((e) => (e.lastError as string | null)?.includes('451')) ? q : undefined;
  }, 10_000, 'a queued message with its last error');
  expect(waiting[0]).toMatchObject({ from: 'alice@localhost', to: ['later@outside.example'], encrypted: false });
  expect(JSON.stringify(waiting)).not.toContain('waits'); // the subject is content: never shown to the admin
  const bounce = await until(async () => {
    await sealpost(['sync'], env);
    const list = lines((await sealpost(['mail', 'list', '--json'], env)).stdout);
    return list.find((m) => m.subject === 'Undelivered mail returned to sender');
  }, 15_000, 'the bounce');
  const read = await sealpost(['mail', 'read', String(bounce.id)], env);
  expect(read.stdout).toMatch(/later@outside\.example: gave up after/);
});

it('policy openpgp-only refuses readable copies; a daily limit per user holds', async () => {
  expect((await sealpost(['admin', 'policy', 'set', 'outside-mail', 'openpgp-only'], env)).code).toBe(0);
  await sealpost(['sync'], env); // the device learns the policy
  const r = await sealpost(['mail', 'send', '--to', 'carol@outside.example', '--subject', 'no', '--body', 'x', '--send-readable', '--json'], env);
  expect(JSON.parse(r.stderr.trim()).error.code).toBe('OUTSIDE_MAIL_NEEDS_KEY');
  await sealpost(['admin', 'policy', 'set', 'outside-mail', 'tls-allowed'], env);
  await sealpost(['admin', 'policy', 'set', 'outside-mail-per-day', '3'], env);
  await sealpost(['sync'], env);
  const over = await sealpost(['mail', 'send', '--to', 'carol@outside.example,dave@outside.example', '--subject', 'many', '--body', 'x', '--send-readable', '--json'], env);
  expect(JSON.parse(over.stderr.trim()).error.code).toBe('RATE_LIMITED');
  const audit = await sealpost(['admin', 'audit', '--json'], env);
  expect(audit.stdout).toContain('"target":"outsideMail"');
  expect(audit.stdout).toContain('mail.dkim-key-created');
});
