// The archive listening without a hold: the operator writes the organisation's archive device straight into the
// database as one of carol's devices (carol is not held), with its KeyPackages, so that whoever talks to carol would
// encrypt to the archive too. Every client refuses it: alice's device will not add a device that is not in carol's
// account-signed list (the KeyPackage names the archive account, not carol), and carol's own device raises the
// alarm for a device her account never approved. The archive receives nothing of their chat.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { operatorDb } from '../operator.js';

let server: TestServer;
let alice: TestClient;
let carol: TestClient;
let archive: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  carol = await server.enroll('carol');
  archive = await server.enrollArchive();
  expect((await carol.client.monitorSelf()).ok).toBe(true);
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it("an archive device written into the database as carol's, with no hold on her, is refused by alice and alarms carol", async () => {
  const d = operatorDb(server.dataDir);
  d.prepare('UPDATE devices SET user = ? WHERE id = ?').run('carol@localhost', archive.client.device);
  d.close();

  const sent = await alice.client.send({ to: ['carol'] }, 'for carol only');
  const conv = alice.client.conversations().find((c) => c.id === sent.conversation)!;
  expect(conv.members).toEqual(['alice@localhost', 'carol@localhost']);
  expect(conv.archived).toBeUndefined();
  expect(alice.warnings.join('\n')).toMatch(new RegExp(`refused a KeyPackage for device ${archive.client.device}`));

  const self = await carol.client.monitorSelf();
  expect(self.ok).toBe(false);
  expect(self.problems.join('\n')).toMatch(new RegExp(`device\\(s\\) this account never approved: ${archive.client.device}`));
  expect((await carol.client.sync()).map((m) => (m.type === 'message' ? m.text : ''))).toContain('for carol only');

  // The archive's device got no Welcome it could use and reads nothing.
  const d2 = operatorDb(server.dataDir);
  d2.prepare('UPDATE devices SET user = ? WHERE id = ?').run('sealpost-archive@localhost', archive.client.device);
  d2.close();
  await archive.client.sync();
  expect(archive.client.conversations()).toEqual([]);
});
