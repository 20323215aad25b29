// A genuine hold on one user used for another: the operator copies the organisation-signed hold on bob into alice's
// rows and gets it published in alice's key-transparency record, hoping to archive alice's conversations under bob's
// hold. The statement names bob: a contact refuses alice's devices, and alice's own device raises the alarm.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HttpApi } from '@sealpost/client';
import { parseUserId } from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { markPending, nextEpoch, operatorDb } from '../operator.js';

let server: TestServer;
let alice: TestClient;
let carol: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  await server.enroll('bob');
  carol = await server.enroll('carol');
  await server.enrollArchive();
  expect((await carol.client.verifyUser('alice@localhost')).hold).toBeUndefined();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it("a genuine hold on bob, published in alice's record, is refused by her contacts and alarms her devices", async () => {
  await new HttpApi(server.url).request('POST', '/v1/admin/holds', { user: 'bob', reason: 'case 17' }, { admin: server.adminToken });
  const [signed] = await server.started.server.ctx.store.holdStatements(parseUserId('bob@localhost'));
  const d = operatorDb(server.dataDir);
  d.prepare('INSERT INTO legal_holds (hold_id, user, released, body, signature, at) VALUES (?, ?, 0, ?, ?, ?)').run('h_copied-from-bob-01', 'alice@localhost', signed!.body, signed!.signature, Date.now());
  markPending(d, 'alice@localhost');
  d.close();
  await nextEpoch();
  await expect(carol.client.verifyUser('alice@localhost')).rejects.toMatchObject({ code: 'DEVICE_LIST_INVALID' });
  const self = await alice.client.monitorSelf();
  expect(self.ok).toBe(false);
  expect(self.problems.join('\n')).toMatch(/legal hold that your organisation's key did not sign for this account/);
});
