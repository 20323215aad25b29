// Attack: one device asks the key-transparency log about label after label as fast as it can (a search for a new
// label costs ~6 ms of event loop, so ~150 a second from one device saturated the server). Now each device has a
// budget of searches; past it the answer is RATE_LIMITED with Retry-After, and the server stays responsive.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sessionTokenOf, startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('limits key-transparency searches per device', async () => {
  const mallory = await server.enroll('mallory');
  await mallory.client.sync();
  const token = sessionTokenOf(mallory.profile);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${server.url}/v1/kt/search/${encodeURIComponent(`probe${i}@localhost`)}`, { headers: { authorization: `Bearer ${token}` } });
    statuses.push(res.status);
    if (res.status === 429) {
      retryAfter = res.headers.get('retry-after');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      break;
    }
    await res.arrayBuffer();
  }
  expect(statuses.at(-1)).toBe(429);
  expect(statuses.length).toBeGreaterThan(100); // people are not limited: the budget is 120 at once
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  // Another device is not affected.
  const alice = await server.enroll('alice');
  expect((await alice.client.verifyUser('mallory@localhost')).kt.verified).toBe(true);
});
