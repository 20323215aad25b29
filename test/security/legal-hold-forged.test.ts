// A legal hold the organisation did not sign: the operator writes a hold statement signed by a key of its own
// straight into the database and gets it published in bob's key-transparency record. Every client refuses it: a
// contact refuses bob's devices (nothing is sent to bob under a hold nobody can check), and bob's own device raises
// the alarm.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultCiphersuite, parseUserId, signLegalHold } from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { markPending, nextEpoch, operatorDb } from '../operator.js';

let server: TestServer;
let alice: TestClient;
let bob: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  bob = await server.enroll('bob');
  await alice.client.send({ to: ['bob@localhost'] }, 'before');
  expect((await bob.client.monitorSelf()).ok).toBe(true);
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it('a hold not signed by the organisation key is refused by a contact and alarms the held user', async () => {
  const cs = await defaultCiphersuite();
  const operatorKey = await cs.signature.keygen();
  const hold = { id: 'h_operator-made-0001', user: parseUserId('bob@localhost'), reason: 'quietly', since: Date.now() };
  const forged = await signLegalHold(cs.signature, operatorKey.signKey, hold);
  const d = operatorDb(server.dataDir);
  d.prepare('INSERT INTO legal_holds (hold_id, user, released, body, signature, at) VALUES (?, ?, 0, ?, ?, ?)').run(hold.id, hold.user, forged.body, forged.signature, Date.now());
  markPending(d, hold.user);
  d.close();
  await nextEpoch();

  await expect(alice.client.verifyUser('bob@localhost')).rejects.toMatchObject({ code: 'DEVICE_LIST_INVALID' });
  await expect(alice.client.send({ to: ['bob@localhost'] }, 'after the forged hold')).rejects.toMatchObject({ code: 'DEVICE_LIST_INVALID' });
  const self = await bob.client.monitorSelf();
  expect(self.ok).toBe(false);
  expect(self.problems.join('\n')).toMatch(/commits to a legal hold that your organisation's key did not sign for this account/);
});
