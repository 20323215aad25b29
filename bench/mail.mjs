#!/usr/bin/env node
// bench:mail — outside mail. Inbound: 50 KB messages over 8 SMTP connections into the gateway (sealed to the
// recipient's intake key and durable before 250), beside a plain smtp-server that writes each message to a file with
// fsync, in the same run. Outbound: mails submitted by a device, DKIM-signed, queued and delivered to a local sink.
// Memory: the server's RSS while one 50 MB message arrives. Ratios, because this machine is shared and noisy.
import { mkdtempSync, rmSync, openSync, writeSync, fsyncSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { startServer } from '@sealpost/server';
import { SealpostClient, HttpApi } from '@sealpost/client';

const N = Number(process.env.BENCH_MAIL_N ?? 400);
const CONCURRENCY = 8;
const body = 'x'.repeat(76) + '\r\n';
const message = (i) => `From: carol@outside.example\r\nTo: alice@localhost\r\nSubject: bench ${i}\r\nMessage-ID: <b${i}-${Date.now()}@outside.example>\r\n\r\n${body.repeat(Math.floor(50 * 1024 / body.length))}`;

async function blast(port, n) {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: CONCURRENCY, maxMessages: Infinity });
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      await t.sendMail({ envelope: { from: 'carol@outside.example', to: ['alice@localhost'] }, raw: message(i) });
    }
  }));
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  t.close();
  return n / s;
}

async function plainGateway(dir) {
  let k = 0;
  const server = new SMTPServer({ authOptional: true, disabledCommands: ['AUTH'], logger: false, onData(stream, _s, cb) {
    const parts = [];
    stream.on('data', (c) => parts.push(c));
    stream.on('end', () => {
      const fd = openSync(join(dir, `m${k++}.eml`), 'w', 0o600);
      writeSync(fd, Buffer.concat(parts));
      fsyncSync(fd);
      closeSync(fd);
      cb();
    });
  } });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.server.address().port, close: () => new Promise((r) => server.close(r)) };
}

const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-mail-'));
const sinkDir = mkdtempSync(join(tmpdir(), 'sealpost-bench-plain-'));
let delivered = 0;
const sink = new SMTPServer({ authOptional: true, disabledCommands: ['AUTH'], logger: false, onData(stream, _s, cb) { stream.resume(); stream.on('end', () => { delivered++; cb(); }); } });
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const started = await startServer({
  dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, domain: 'localhost', logLevel: 'warn', rateLimits: 'off',
  // DNS answers are fixed (no records): this machine has no outside DNS, and a lookup timing out is not what is measured.
  smtp: { host: '127.0.0.1', port: 0, maxBytes: 60 * 1024 * 1024, resolver: async (name) => { throw Object.assign(new Error(`no record for ${name}`), { code: 'ENOTFOUND' }); } },
  outbound: { routes: { 'outside.example': `127.0.0.1:${sink.server.address().port}` }, retryMs: [1000] },
});
const admin = new HttpApi(started.url);
const token = (await import('node:fs')).readFileSync(started.adminTokenFile, 'utf8').trim();
const { activationCode } = await admin.request('POST', '/v1/admin/users', { user: 'alice' }, { admin: token });
const alice = await SealpostClient.enroll({ server: started.url, user: 'alice@localhost', code: activationCode, profile: join(dir, 'alice') });
const plain = await plainGateway(sinkDir);

// Warm-up, then three alternating rounds; the median of each.
await blast(started.smtpPort, 40);
await blast(plain.port, 40);
const sealed = [], baseline = [];
for (let r = 0; r < 5; r++) {
  sealed.push(await blast(started.smtpPort, N));
  baseline.push(await blast(plain.port, N));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = median(sealed), mb = median(baseline);
console.log(`inbound 50 KB, ${CONCURRENCY} connections, ${N} messages x5 (median): Sealpost gateway (sealed, durable) ${ms.toFixed(0)} msg/s; plain smtp-server + file + fsync ${mb.toFixed(0)} msg/s; ratio ${(100 * ms / mb).toFixed(0)}% (goal >= 50%)`);

// Memory while one 50 MB message arrives (streamed by the sender; the gateway seals it chunk by chunk).
global.gc?.();
const before = process.memoryUsage().rss;
let peak = before;
const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
const big = nodemailer.createTransport({ host: '127.0.0.1', port: started.smtpPort, secure: false, ignoreTLS: true });
const line = Buffer.from('y'.repeat(998) + '\r\n');
const total = 50 * 1024 * 1024;
let sent = 0;
const stream = new Readable({ read() {
  if (sent === 0) { this.push('From: carol@outside.example\r\nTo: alice@localhost\r\nSubject: big\r\n\r\n'); }
  if (sent >= total) return this.push(null);
  sent += line.length * 64;
  this.push(Buffer.concat(Array(64).fill(line)));
} });
await big.sendMail({ envelope: { from: 'carol@outside.example', to: ['alice@localhost'] }, raw: stream });
clearInterval(sampler);
console.log(`memory: RSS ${(before / 1024 / 1024).toFixed(0)} MB before, at most ${(peak / 1024 / 1024).toFixed(0)} MB while a 50 MB message arrived (+${((peak - before) / 1024 / 1024).toFixed(1)} MB; sender and server in one process; flat means far below +50 MB)`);

// Outbound: submitted, DKIM-signed and queued; then delivered to a local sink.
const OUT = 100;
const t0 = process.hrtime.bigint();
for (let i = 0; i < OUT; i++) await alice.sendMail({ to: ['bob@outside.example'], subject: `out ${i}`, text: body.repeat(100) }, { allowReadable: true });
const queuedS = Number(process.hrtime.bigint() - t0) / 1e9;
const end = Date.now() + 60_000;
while (delivered < OUT && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
const allS = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`outbound ~7.6 KB: ${OUT} queued in ${queuedS.toFixed(2)} s (${(OUT / queuedS).toFixed(0)}/s, one device, sequential); ${delivered} delivered to the local sink by ${allS.toFixed(2)} s (${(delivered / allS).toFixed(0)}/s)`);

await alice.close();
await started.close();
await plain.close();
await new Promise((r) => sink.close(r));
rmSync(dir, { recursive: true, force: true });
rmSync(sinkDir, { recursive: true, force: true });
process.exit(0);
