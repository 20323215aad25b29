// Attack: the operator fakes an admin reset of bob in the key-transparency log and then publishes its own account
// key for him, so that contacts encrypt to the operator. Bob's device, monitoring his label, finds versions none of
// his devices made, alarms, and publishes an objection signed with his account key; a contact who knows that key
// then refuses the new key instead of trusting it.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { startTestServer, type TestServer } from '../helpers.js';
import { fakeReset, nextEpoch, writeOperatorList } from '../operator.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it("bob's objection makes his contacts refuse a key he did not make", async () => {
  const bob = await server.enroll('bob');
  const carol = await server.enroll('carol');
  await carol.client.send({ to: ['bob@localhost'] }, 'hello bob'); // carol knows bob's key
  await bob.client.sync();

  fakeReset(server.dataDir, 'bob@localhost');
  await nextEpoch();
  await writeOperatorList(server.dataDir, 'bob@localhost', true);
  await nextEpoch();

  const self = await bob.client.monitorSelf();
  expect(self.ok).toBe(false);
  expect(bob.warnings.join('\n')).toMatch(/objected, with your account key, to version \d+/);

  // Carol's next run (as with every CLI command) looks bob's devices up again for a new mail thread.
  await carol.client.close();
  const carolAgain = server.track(await SealpostClient.open(carol.profile, { warn: () => {} }));
  await expect(carolAgain.sendMail({ to: ['bob@localhost'], subject: 'Plan', text: 'for bob only' })).rejects.toMatchObject({
    code: 'ACCOUNT_KEY_CHANGED',
    message: expect.stringMatching(/own devices object to the change/),
  });
  // A forged objection (not signed by a key bob ever had) is refused by the server.
  const forged = await fetch(`${server.url}/v1/kt/objections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ body: 'AAAA', signature: 'AAAA' }),
  });
  expect(forged.status).toBe(400);
});
