// What an operator's monitoring sees: liveness, readiness and Prometheus metrics.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('answers /healthz, /readyz and /metrics', async () => {
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
  // No user, device or conversation appears in metrics.
  expect(text).not.toMatch(/alice@|bob@|\bdev_[A-Za-z0-9_-]{22}|\bc_[A-Za-z0-9_-]{22}/);
});

it('logs routes, not the URLs people asked for nor where they came from', async () => {
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
