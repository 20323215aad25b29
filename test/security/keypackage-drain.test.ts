// Attack: one device claims a colleague's one-time KeyPackages over and over (before: 48 → 0 in 48 calls), so
// that the colleague's device falls back to its last-resort KeyPackage for everyone. Now a claimer gets only a few
// one-time KeyPackages of any one device and then that device's last-resort one; other people still get one-time ones.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sessionTokenOf, startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

async function call<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return (await res.json()) as T;
}

it("no device can drain another's one-time KeyPackages", async () => {
  const bob = await server.enroll('bob');
  await bob.client.sync();
  const bobToken = sessionTokenOf(bob.profile);
  const before = (await call<{ count: number }>(bobToken, 'GET', '/v1/keypackages/count')).count;
  expect(before).toBeGreaterThan(20);

  const mallory = await server.enroll('mallory');
  await mallory.client.sync();
  const token = sessionTokenOf(mallory.profile);
  const claimed = new Set<string>();
  for (let i = 0; i < before; i++) {
    const res = await call<{ keyPackages: { keyPackage: string }[] }>(token, 'POST', '/v1/keypackages/claim', { users: ['bob@localhost'] });
    expect(res.keyPackages).toHaveLength(1); // every claim still gets a KeyPackage...
    claimed.add(res.keyPackages[0]!.keyPackage);
  }
  // ...but after three one-time ones it is always the same, reusable last-resort one.
  expect(claimed.size).toBe(4);
  expect((await call<{ count: number }>(bobToken, 'GET', '/v1/keypackages/count')).count).toBe(before - 3);

  // Someone else starting a chat with bob still gets a fresh one-time KeyPackage (of the chat's suite, pq-hybrid).
  const hybridBefore = (await call<{ count: number }>(bobToken, 'GET', '/v1/keypackages/count?suite=pq-hybrid')).count;
  const alice = await server.enroll('alice');
  await alice.client.send({ to: ['bob@localhost'] }, 'hello');
  expect((await call<{ count: number }>(bobToken, 'GET', '/v1/keypackages/count?suite=pq-hybrid')).count).toBe(hybridBefore - 1);
  expect((await call<{ count: number }>(bobToken, 'GET', '/v1/keypackages/count')).count).toBe(before - 3);
});
