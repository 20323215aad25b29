// What an operator's monitoring sees: liveness, readiness and Prometheus metrics.
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

  const res = await fetch(`${server.url}/metrics`);
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
