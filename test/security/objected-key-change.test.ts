// Attack: the operator fakes an admin reset of bob in the key-transparency log and then publishes its own account
// key for him, so that contacts encrypt to the operator. Bob's device, monitoring his label, finds versions none of
// his devices made, alarms, and publishes an objection signed with his account key; a contact who knows that key
// then refuses the new key instead of trusting it.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { defaultCiphersuite, newDeviceId, parseUserId, signDeviceList } from '@sealpost/protocol';
import { SealpostClient } from '@sealpost/client';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

const epoch = () => new Promise((r) => setTimeout(r, 1500)); // the server publishes an epoch every second

it("bob's objection makes his contacts refuse a key he did not make", async () => {
  const bob = await server.enroll('bob');
  const carol = await server.enroll('carol');
  await carol.client.send({ to: ['bob@localhost'] }, 'hello bob'); // carol knows bob's key
  await bob.client.sync();

  const cs = await defaultCiphersuite();
  const operatorKey = await cs.signature.keygen();
  const signed = await signDeviceList(cs.signature, operatorKey.signKey, {
    user: parseUserId('bob@localhost'),
    version: 9,
    accountKey: operatorKey.publicKey,
    devices: [{ id: newDeviceId(), signatureKey: (await cs.signature.keygen()).publicKey, addedAt: Date.now() }],
  });
  let d = new Database(join(server.dataDir, 'sealpost.db'));
  d.prepare("DELETE FROM device_lists WHERE user = 'bob@localhost'").run();
  d.prepare("INSERT INTO kt_pending (user, seq) VALUES ('bob@localhost', 50) ON CONFLICT(user) DO UPDATE SET seq = 50").run();
  d.close();
  await epoch();
  d = new Database(join(server.dataDir, 'sealpost.db'));
  d.prepare("INSERT INTO device_lists (user, version, account_key, body, signature) VALUES ('bob@localhost', 9, ?, ?, ?)").run(operatorKey.publicKey, signed.body, signed.signature);
  d.prepare("INSERT INTO kt_pending (user, seq) VALUES ('bob@localhost', 51) ON CONFLICT(user) DO UPDATE SET seq = 51").run();
  d.close();
  await epoch();

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
