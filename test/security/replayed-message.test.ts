// Attack: a message is delivered again — by a malicious operator who re-inserts stored ciphertext into a queue, or
// by a network retry of the same send. The recipient must not show it twice.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ProfileStore } from '@sealpost/client';
import { encodeFrame } from '@sealpost/protocol';
import { chats, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('does not show a replayed message twice, whether re-queued by the operator or re-sent', async () => {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'pay 100 to carol');
  const db = new Database(join(server.dataDir, 'sealpost.db'));
  try {
    const stored = db.prepare("SELECT * FROM messages WHERE kind = 'app'").get() as Record<string, unknown>;
    const bobQueue = () => (db.prepare('SELECT COUNT(*) AS n FROM queue WHERE device = ?').get(bob.client.device) as { n: number }).n;
    const queuedBefore = bobQueue();

    // A network retry: Alice's device sends the same message (same id, same ciphertext) again.
    const profile = ProfileStore.open(alice.profile, { create: false });
    const token = profile.getMetaText('session_token')!;
    profile.close();
    const sock = await RawSocket.open(server.url);
    sock.send(encodeFrame({ t: 'auth', token }));
    sock.send(encodeFrame({ t: 'send', r: 1, c: conversation, e: stored.epoch as number, id: stored.msg_id as never, p: new Uint8Array(stored.payload as Buffer) }));
    const frames = await sock.waitFrames(2);
    expect(frames[1]).toMatchObject({ t: 'ok', r: 1 });
    sock.close();
    expect(bobQueue()).toBe(queuedBefore);
    expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['pay 100 to carol']);

    // The operator puts the same ciphertext back in Bob's queue, under a new id.
    const device = bob.client.device;
    const row = db
      .prepare('INSERT INTO messages (conversation, kind, epoch, msg_id, sender_device, sender_user, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(stored.conversation, 'app', stored.epoch, 'replayed-0001', stored.sender_device, stored.sender_user, Date.now(), stored.payload);
    db.prepare('INSERT INTO queue (device, message) VALUES (?, ?)').run(device, row.lastInsertRowid);

    expect(chats(await bob.client.sync())).toEqual([]);
    expect(bob.client.messages(conversation).map((m) => m.text)).toEqual(['pay 100 to carol']);
    expect(bob.warnings.join('\n')).toMatch(/skipped a app message/);
    // And it was acked, so it does not come back.
    expect(db.prepare('SELECT COUNT(*) AS n FROM queue WHERE device = ?').get(device)).toEqual({ n: 0 });
  } finally {
    db.close();
  }
});
