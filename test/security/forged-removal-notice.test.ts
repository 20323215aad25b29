// Attack: a malicious operator (without the organisation key) queues a "remove this device" notice to make the
// members of a conversation throw out Carol's device. Members check the organisation signature first and ignore it;
// Carol keeps receiving.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { defaultCiphersuite, newMessageId, signOrgCommand, type UserId, type DeviceId } from '@sealpost/protocol';
import { chats, startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('a removal notice not signed by the organisation key removes nobody', async () => {
  const alice = await server.enroll('alice');
  const carol = await server.enroll('carol');
  const { conversation } = await alice.client.send({ to: ['carol@localhost'] }, 'first');
  await carol.client.sync();

  const cs = await defaultCiphersuite();
  const attacker = await cs.signature.keygen();
  const forged = await signOrgCommand(cs.signature, attacker.signKey, {
    kind: 'remove-device',
    device: carol.client.device as DeviceId,
    user: 'carol@localhost' as UserId,
    issuedAt: Date.now(),
  });
  const payload = Buffer.concat([Buffer.from([forged.body.length >> 8, forged.body.length & 255]), forged.body, forged.signature]);
  const db = new Database(join(server.dataDir, 'sealpost.db'));
  const epoch = (db.prepare('SELECT epoch FROM conversations WHERE id = ?').get(conversation) as { epoch: number }).epoch;
  const msg = db
    .prepare('INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .run(conversation, 'remove', epoch, newMessageId(), carol.client.device, 'carol@localhost', Date.now(), payload);
  db.prepare('INSERT INTO queue (device, message) VALUES (?, ?)').run(alice.client.device, msg.lastInsertRowid);
  db.close();

  await alice.client.sync();
  expect(alice.warnings.join('\n')).toMatch(/removal notice refused: bad-signature/);
  expect(alice.client.conversations().find((c) => c.id === conversation)?.members).toEqual(['alice@localhost', 'carol@localhost']);
  await alice.client.send({ conversation }, 'still here?');
  expect(chats(await carol.client.sync()).map((m) => m.text)).toEqual(['still here?']);
});
