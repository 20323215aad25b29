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
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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

await bob.close();
// The bridge runs as its own process, as it does for a user (and as Dovecot does): `sealpost bridge --json`.
t = Date.now();
const bin = fileURLToPath(new URL('../packages/cli/bin/sealpost.js', import.meta.url));
const child = spawn(process.execPath, [bin, 'bridge', '--profile', profile, '--imap', '127.0.0.1:0', '--smtp', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout });
const bridge = await new Promise((resolve, reject) => {
  let first;
  lines.on('line', (l) => {
    const m = JSON.parse(l);
    if (m.imap) first = m;
    // As mail arrives the bridge renders it once and keeps what a sync needs (in the encrypted profile), like a mail
    // server indexing on delivery; it says "ready" when the mail there at start is done. Dovecot's APPENDs below are
    // not timed either.
    if (m.ready) resolve({ imapPort: Number(first.imap.split(':')[1]), password: first.password, pid: child.pid });
  });
  child.once('exit', (code) => reject(new Error(`bridge exited ${code}`)));
});
const password = bridge.password;
console.log(`bridge: ${N} mails filed and prepared in ${((Date.now() - t) / 1000).toFixed(1)} s (in the background as mail arrives)`);
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

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

// Three rounds each, alternating, after one warm-up pass each (the bridge is JavaScript: its first pass also
// compiles); the median round is reported.
const rounds = Number(process.env.BENCH_BRIDGE_ROUNDS ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rss0 = rssOf(bridge.pid);
let peak = rss0;
const sampler = setInterval(() => (peak = Math.max(peak, rssOf(bridge.pid))), 20);
const bridgeRuns = [await run(bridge.imapPort, 'bob@localhost', password)];

let dovecot;
try {
  const { startDovecot, dovecotUnavailable } = await import('./dovecot-peer.mjs');
  const why = dovecotUnavailable();
  if (why) throw new Error(why);
  dovecot = await startDovecot();
} catch (err) {
  console.log(`dovecot: not run (${err.message})`);
}
const dovecotRuns = [];
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
  dovecotRuns.push(await run(dovecot.port, dovecot.user, dovecot.password)); // warm-up
}
const firstPass = { bridge: bridgeRuns[0], dovecot: dovecotRuns[0] };
bridgeRuns.length = 0;
for (let r = 0; r < rounds; r++) {
  bridgeRuns.push(await run(bridge.imapPort, 'bob@localhost', password));
  if (dovecot) dovecotRuns.push(await run(dovecot.port, dovecot.user, dovecot.password));
}
clearInterval(sampler);
if (dovecot) dovecotRuns.shift();
const bH = median(bridgeRuns.map((r) => r.hMs));
const bB = median(bridgeRuns.map((r) => r.bMs));
console.log(`bridge: headers of ${N} in ${bH.toFixed(0)} ms (${(N / bH * 1000).toFixed(0)}/s); bodies of ${M} in ${bB.toFixed(0)} ms (${(M / bB * 1000).toFixed(0)}/s); rounds ${bridgeRuns.map((r) => `${r.hMs.toFixed(0)}/${r.bMs.toFixed(0)}`).join(', ')} ms; bridge process RSS ${(rss0 / 2 ** 20).toFixed(0)} MB before, at most ${(peak / 2 ** 20).toFixed(0)} MB during`);
if (dovecot) {
  const dH = median(dovecotRuns.map((r) => r.hMs));
  const dB = median(dovecotRuns.map((r) => r.bMs));
  console.log(`dovecot: headers of ${N} in ${dH.toFixed(0)} ms; bodies of ${M} in ${dB.toFixed(0)} ms; rounds ${dovecotRuns.map((r) => `${r.hMs.toFixed(0)}/${r.bMs.toFixed(0)}`).join(', ')} ms`);
  console.log(`first pass after start (the bridge's code not yet compiled by V8): bridge ${firstPass.bridge.hMs.toFixed(0)}/${firstPass.bridge.bMs.toFixed(0)} ms, Dovecot ${firstPass.dovecot.hMs.toFixed(0)}/${firstPass.dovecot.bMs.toFixed(0)} ms: headers ${(100 * firstPass.dovecot.hMs / firstPass.bridge.hMs).toFixed(0)}%, bodies ${(100 * firstPass.dovecot.bMs / firstPass.bridge.bMs).toFixed(0)}%`);
  console.log(`ratio (bridge speed / Dovecot's, medians): headers ${(100 * dH / bH).toFixed(0)}%, bodies ${(100 * dB / bB).toFixed(0)}% (goal >= 50%); body bytes ${bridgeRuns[0].bytes} (bridge) and ${dovecotRuns[0].bytes} (Dovecot)`);
await dovecot.stop();
}

child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await started.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
