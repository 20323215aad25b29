// What an operator's monitoring sees: liveness, readiness and Prometheus metrics (HTTP answers and their latency,
// storage), and logs: no request lines at info, one per request at debug with its route and never its URL, and a
// line when the server is told to stop.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
async function start(opts: Parameters<typeof startTestServer>[0] = {}): Promise<void> {
  server = await startTestServer(opts);
}
afterEach(async () => {
  await server?.close();
});

it('answers /healthz, /readyz and /metrics', async () => {
  await start();
  expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
  expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' });

  const alice = (await server.enroll('alice')).client;
  await server.enroll('bob');
  const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'one');
  await alice.send({ conversation }, 'two');

  // Not public: metrics need the data folder's metrics token.
  const anonymous = await fetch(`${server.url}/metrics`);
  expect(anonymous.status).toBe(401);
  expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  const token = readFileSync(server.started.metricsTokenFile, 'utf8').trim();
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  expect(text).toMatch(/^sealpost_messages_in_total\{kind="app"\} 2$/m);
  expect(text).toMatch(/^sealpost_messages_in_total\{kind="commit"\} 1$/m);
  expect(text).toMatch(/^sealpost_connections 1$/m); // Alice's socket
  expect(text).toMatch(/^sealpost_queue_depth 3$/m); // Bob's Welcome and two messages, not yet fetched
  expect(text).toMatch(/^sealpost_store_append_seconds_count\{kind="app"\} 2$/m);
  expect(text).toContain('sealpost_process_resident_memory_bytes');
  expect(text).toContain('sealpost_nodejs_eventloop_lag_seconds');
  // HTTP answers by route pattern and status, with their latency; storage.
  expect(text).toMatch(/^sealpost_http_requests_total\{method="GET",route="\/v1\/info",status="200"\} \d+$/m);
  expect(text).toMatch(/^sealpost_http_requests_total\{method="GET",route="\/metrics",status="401"\} 1$/m);
  expect(text).toMatch(/^sealpost_http_request_seconds_count\{route="\/v1\/info"\} \d+$/m);
  expect(text).toMatch(/^sealpost_blobs 0$/m);
  expect(text).toMatch(/^sealpost_blob_bytes 0$/m);
  expect(text).toMatch(/^sealpost_data_free_bytes [1-9]\d*$/m);
  // No user, device or conversation appears in metrics.
  expect(text).not.toMatch(/alice@|bob@|\bdev_[A-Za-z0-9_-]{22}|\bc_[A-Za-z0-9_-]{22}/);
});

it('logs no request at info; at debug, routes, not the URLs people asked for nor where they came from', async () => {
  await start();
  await server.enroll('carol');
  await fetch(`${server.url}/v1/info`);
  expect(server.logs.filter((l) => l.includes('"route"'))).toEqual([]);
  await server.close();
  await start({ logLevel: 'debug' });
  const alice = await server.enroll('alice');
  await server.enroll('bob');
  await alice.client.verifyUser('bob@localhost'); // a directory and key-transparency lookup of bob
  await fetch(`${server.url}/v1/link/ABCDE-23456/status?device=dev_secretlinkprobe0000000`);
  const logs = server.logs.join('');
  expect(logs).toContain('"route":"/v1/users/:user/devices"');
  expect(logs).not.toContain('/v1/users/bob');
  expect(logs).not.toContain('ABCDE-23456');
  expect(logs).not.toContain('secretlinkprobe');
  expect(logs).not.toContain('remoteAddress');
  expect(server.logs.filter((l) => l.includes('127.0.0.1') && !l.includes('Server listening'))).toEqual([]);
});

it('says when it is told to stop, and when it has stopped', async () => {
  const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'server', '--data', tempDir('stop'), '--listen', '127.0.0.1:0', '--no-web'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 200 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(out).toContain('listening on');
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  expect(code).toBe(0);
  expect(err).toMatch(/"msg":"shutting down \(SIGTERM\)/);
  expect(err).toMatch(/"msg":"stopped"/);
});

it('reloads a renewed TLS certificate on SIGHUP (HTTPS and the SMTP gateway\'s STARTTLS), and keeps the old one when the new one is broken', async () => {
  const dir = tempDir('tls-reload');
  const cert = (name: string) =>
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`,
      '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`)], { stdio: 'ignore' });
  cert('first');
  cert('renewed');
  copyFileSync(join(dir, 'first.pem'), join(dir, 'cert.pem'));
  copyFileSync(join(dir, 'first.key'), join(dir, 'key.pem'));
  const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'server', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--no-web', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), '--smtp-listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    for (let i = 0; i < 200 && !/listening on https:\/\/127\.0\.0\.1:\d+/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    const port = Number(/listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    for (let i = 0; i < 100 && !/SMTP gateway for outside mail on 127\.0\.0\.1:\d+/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    const smtpPort = /SMTP gateway for outside mail on 127\.0\.0\.1:(\d+)/.exec(out)![1]!;
    // What openssl sees after STARTTLS on the gateway (an outside MTA's view).
    const smtpName = () => {
      const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${smtpPort}`, '-starttls', 'smtp', '-brief'], { input: '', timeout: 10_000 });
      return /Peer certificate: CN ?= ?(\w+)/.exec(`${r.stdout}${r.stderr}`)?.[1];
    };
    const servedName = () =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.end();
        });
        s.on('error', reject);
      });
    expect(await servedName()).toBe('first');
    expect(smtpName()).toBe('first');
    copyFileSync(join(dir, 'renewed.pem'), join(dir, 'cert.pem'));
    copyFileSync(join(dir, 'renewed.key'), join(dir, 'key.pem'));
    child.kill('SIGHUP');
    for (let i = 0; i < 100 && !err.includes('reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await servedName()).toBe('renewed');
    expect(smtpName()).toBe('renewed');
    // A certificate that does not match its key: refused, said, and the renewed one stays.
    copyFileSync(join(dir, 'first.pem'), join(dir, 'cert.pem'));
    child.kill('SIGHUP');
    for (let i = 0; i < 100 && !err.includes('TLS reload failed'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(err).toContain('TLS reload failed');
    expect(await servedName()).toBe('renewed');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
});
