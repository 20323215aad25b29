#!/usr/bin/env node
// bench:bridge — a mail program's first sync through the bridge, beside Dovecot holding the same messages, in the
// same run: the headers of N mails (BODY.PEEK[HEADER] of all), then the full bodies of the first M. Mails reach the
// user through the SMTP gateway (4 KB each), are opened on the device, and served by the bridge (in this process);
// Dovecot (a private instance, when it can run) gets exactly the bytes the bridge serves. Ratios: the machine is shared.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { startServer } from '@sealpost/server';
import { SealpostClient, HttpApi } from '@sealpost/client';
import { startBridge } from '../packages/cli/dist/bridge/bridge.js';

const N = Number(process.env.BENCH_BRIDGE_N ?? 10_000);
const M = Math.min(N, Number(process.env.BENCH_BRIDGE_BODIES ?? 1_000));
const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-bridge-'));
const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
const body = line.repeat(Math.floor(4096 / line.length));

const started = await startServer({
  dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, domain: 'localhost', logLevel: 'warn', rateLimits: 'off',
  smtp: { host: '127.0.0.1', port: 0, resolver: async (name) => { throw Object.assign(new Error(`no record for ${name}`), { code: 'ENOTFOUND' }); } },
});
const admin = new HttpApi(started.url);
const token = readFileSync(started.adminTokenFile, 'utf8').trim();
const { activationCode } = await admin.request('POST', '/v1/admin/users', { user: 'bob' }, { admin: token });
const profile = join(dir, 'bob');
const bob = await SealpostClient.enroll({ server: started.url, user: 'bob@localhost', code: activationCode, profile });
await bob.sync(); // publishes nothing new; signs in

let t = Date.now();
const gw = nodemailer.createTransport({ host: '127.0.0.1', port: started.smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 8, maxMessages: Infinity });
let next = 0;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < N) {
    const i = next++;
    await gw.sendMail({ envelope: { from: 'carol@outside.example', to: ['bob@localhost'] }, raw: `From: Carol <carol@outside.example>\r\nTo: bob@localhost\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@outside.example>\r\nDate: ${new Date(Date.UTC(2026, 0, 1) + i * 60_000).toUTCString()}\r\n\r\n${body}` });
  }
}));
gw.close();
await bob.sync();
console.log(`setup: ${N} mails through the gateway and opened on the device in ${((Date.now() - t) / 1000).toFixed(1)} s`);

t = Date.now();
const bridge = await startBridge(bob, profile, { imap: { host: '127.0.0.1', port: 0 }, smtp: { host: '127.0.0.1', port: 0 } });
const password = bridge.password;
// As mail arrives the bridge renders it once and keeps what a sync needs (in the encrypted profile), like a mail
// server indexing on delivery; Dovecot's APPENDs below are not timed either.
await bridge.whenPrepared();
console.log(`bridge: ${N} mails filed and prepared in ${((Date.now() - t) / 1000).toFixed(1)} s (in the background as mail arrives)`);

async function run(port, user, pass) {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, logger: false });
  await c.connect();
  await c.mailboxOpen('INBOX', { readOnly: true });
  let t0 = performance.now();
  let headers = 0;
  for await (const m of c.fetch('1:*', { uid: true, flags: true, headers: true })) headers += m.headers.length;
  const hMs = performance.now() - t0;
  t0 = performance.now();
  let bytes = 0;
  const sources = [];
  for await (const m of c.fetch(`1:${M}`, { source: true })) {
    bytes += m.source.length;
    if (sources.length < M) sources.push(m.source);
  }
  const bMs = performance.now() - t0;
  await c.logout();
  return { hMs, bMs, headers, bytes, sources };
}

global.gc?.();
const rss0 = process.memoryUsage().rss;
let peak = rss0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const viaBridge = await run(bridge.imapPort, 'bob@localhost', password);
clearInterval(sampler);
console.log(`bridge: headers of ${N} in ${viaBridge.hMs.toFixed(0)} ms (${(N / viaBridge.hMs * 1000).toFixed(0)}/s); bodies of ${M} in ${viaBridge.bMs.toFixed(0)} ms (${(M / viaBridge.bMs * 1000).toFixed(0)}/s); process RSS ${(rss0 / 2 ** 20).toFixed(0)} MB before, at most ${(peak / 2 ** 20).toFixed(0)} MB during`);

let dovecot;
try {
  const { startDovecot, dovecotUnavailable } = await import('./dovecot-peer.mjs');
  const why = dovecotUnavailable();
  if (why) throw new Error(why);
  dovecot = await startDovecot();
} catch (err) {
  console.log(`dovecot: not run (${err.message})`);
}
if (dovecot) {
  // Dovecot gets every message as the bridge serves it (all N, so the header fetch is over the same mailbox).
  const src = new ImapFlow({ host: '127.0.0.1', port: bridge.imapPort, secure: false, auth: { user: 'bob@localhost', pass: password }, logger: false });
  await src.connect();
  await src.mailboxOpen('INBOX', { readOnly: true });
  const d = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false });
  await d.connect();
  for await (const m of src.fetch('1:*', { source: true })) await d.append('INBOX', m.source, []);
  await d.logout();
  await src.logout();
  const viaDovecot = await run(dovecot.port, dovecot.user, dovecot.password);
  console.log(`dovecot: headers of ${N} in ${viaDovecot.hMs.toFixed(0)} ms; bodies of ${M} in ${viaDovecot.bMs.toFixed(0)} ms`);
  console.log(`ratio (bridge speed / Dovecot's): headers ${(100 * viaDovecot.hMs / viaBridge.hMs).toFixed(0)}%, bodies ${(100 * viaDovecot.bMs / viaBridge.bMs).toFixed(0)}% (goal >= 50%); body bytes ${viaBridge.bytes} (bridge) and ${viaDovecot.bytes} (Dovecot)`);
  await dovecot.stop();
}

await bridge.close();
await bob.close();
await started.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
