// Attack: a member floods an offline colleague's queue with large items no device can read (140 × 500 KB of
// garbage in their chat). Before, a fetch batch was capped at 200 items but not in bytes: 200 × 512 KiB is over the
// client's frame limit, so every later sync of the victim failed, for good. Now batches are budgeted in bytes, the
// victim skips what it cannot read (recorded, acked) and gets the real message sent after the flood.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { encodeFrame, limits, newMessageId, type ConversationId } from '@sealpost/protocol';
import { chats, sessionTokenOf, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it("a flood of large unreadable items does not stop the victim's queue", async () => {
  const alice = await server.enroll('alice');
  const bob = (await server.enroll('bob')).client;
  const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'before the flood');

  // Alice's own session, used raw: the server stores what a member sends at the current epoch, unread.
  const sock = await RawSocket.open(server.url);
  sock.send(encodeFrame({ t: 'auth', token: sessionTokenOf(alice.profile) }));
  await sock.waitFrames(1);
  const garbage = new Uint8Array(500_000).fill(7);
  const frame = (r: number, e: number) => encodeFrame({ t: 'send', r, c: conversation as ConversationId, e, id: newMessageId(), p: garbage });
  // The conversation's epoch, from the server's answer to a probe at epoch 0.
  sock.send(frame(1, 0));
  const [, probe] = await sock.waitFrames(2);
  const epoch = probe?.t === 'err' && probe.epoch !== undefined ? probe.epoch : 0;
  const n = 140;
  for (let r = 2; r <= n + 1; r++) sock.send(frame(r, epoch));
  const answers = await sock.waitFrames(2 + n, 60_000);
  expect(answers.slice(2).filter((f) => f.t === 'ok')).toHaveLength(n);
  expect(n * garbage.length).toBeGreaterThan(64 * limits.maxFrameBytes); // more than the old client frame limit
  sock.close();
  await alice.client.send({ conversation }, 'after the flood');

  const got = chats(await bob.sync()).map((m) => m.text);
  expect(got).toEqual(['before the flood', 'after the flood']);
  const skipped = bob.unreadable();
  expect(skipped).toHaveLength(n);
  expect(skipped[0]).toMatchObject({ conversation, kind: 'app', fromUser: 'alice@localhost' });
  // Acked: a second sync has nothing left.
  expect(await bob.sync()).toEqual([]);
}, 120_000);
