// A downgrade through the directory: the operator wants bob's device in alice's new post-quantum conversation under
// a classic key exchange, so it deletes bob's pq-hybrid KeyPackages and relabels his classic ones as pq-hybrid in the
// database — the server then hands out a classic KeyPackage for a pq-hybrid conversation. alice's device reads the
// KeyPackage itself and refuses it (SUITE_UNSUPPORTED): bob is not added at all, nothing is sent in a weaker suite.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { operatorDb } from '../operator.js';

let server: TestServer;
let alice: TestClient;
let bob: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  bob = await server.enroll('bob');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it('a classic KeyPackage served for a pq-hybrid conversation is refused by the adding device', async () => {
  const d = operatorDb(server.dataDir);
  d.prepare("DELETE FROM key_packages WHERE device = ? AND suite = 'pq-hybrid'").run(bob.client.device);
  const relabelled = d.prepare("UPDATE key_packages SET suite = 'pq-hybrid' WHERE device = ? AND suite = 'classic'").run(bob.client.device).changes;
  d.close();
  expect(relabelled).toBeGreaterThan(0);

  await expect(alice.client.send({ to: ['bob'] }, 'must not go out under a classic key exchange')).rejects.toMatchObject({
    code: 'SUITE_UNSUPPORTED',
    message: expect.stringMatching(/a classic KeyPackage of bob@localhost's device .* cannot join a pq-hybrid conversation/),
  });
  expect(alice.client.conversations().filter((c) => (c.members as string[]).includes('bob@localhost'))).toEqual([]);
  expect(await bob.client.sync()).toEqual([]);
});
