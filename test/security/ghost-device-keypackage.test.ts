// Attack: a malicious operator writes an extra device for Bob straight into the server database, with a KeyPackage
// it made itself, hoping to be added to Bob's conversations. Clients only add devices in Bob's account-signed
// device list, so the ghost is refused and the conversation goes on without it.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { GroupEngine, newDeviceId, parseUserId } from '@sealpost/protocol';
import { chats, startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('refuses a device that is in the server database but not in the signed device list', async () => {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');

  const engine = await GroupEngine.create(async () => true);
  const ghost = { user: parseUserId('bob@localhost'), device: newDeviceId() };
  const keys = await engine.generateSignatureKeyPair();
  // Of the suite new conversations use (pq-hybrid by default), so the server hands it out.
  const kp = await engine.createKeyPackage(ghost, keys, 'pq-hybrid');
  const db = new Database(join(server.dataDir, 'sealpost.db'));
  db.prepare('INSERT INTO devices (id, user, name, signature_key, created_at) VALUES (?, ?, ?, ?, ?)').run(ghost.device, ghost.user, 'ghost', keys.publicKey, Date.now());
  db.prepare('INSERT INTO key_packages (ref, device, data, last_resort, suite) VALUES (?, ?, ?, 0, ?)').run(kp.ref, ghost.device, kp.publicBytes, 'pq-hybrid');

  const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'for bob only');
  expect(alice.warnings.join('\n')).toContain(`refused a KeyPackage for device ${ghost.device}`);
  const members = db.prepare('SELECT device FROM conversation_members WHERE conversation = ?').all(conversation) as { device: string }[];
  expect(members.map((m) => m.device).sort()).toEqual([alice.client.device, bob.client.device].sort());
  expect(db.prepare('SELECT COUNT(*) AS n FROM queue WHERE device = ?').get(ghost.device)).toEqual({ n: 0 });
  db.close();
  expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['for bob only']);
});
