// Attack: frames larger than the limit, from an unauthenticated or an authenticated peer. Each gets a clear error
// (or, far over the limit, a closed socket), and the server keeps serving everyone else.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { encodeFrame, limits, newMessageId } from '@sealpost/protocol';
import { chats, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('answers an oversized frame with FRAME_TOO_LARGE, closes on an absurd one, and keeps serving others', async () => {
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'before');

  const sock = await RawSocket.open(server.url);
  sock.send(new Uint8Array(limits.maxFrameBytes + 10));
  const [err] = await sock.waitFrames(1);
  expect(err).toMatchObject({ t: 'err', code: 'FRAME_TOO_LARGE', message: expect.stringMatching(/^frame: length \d+ > \d+$/) });
  expect(sock.closed).toBeUndefined();

  // A frame whose MLS payload is over the message limit, inside a frame under the frame limit.
  sock.send(encodeFrame({ t: 'send', r: 1, c: conversation, e: 1, id: newMessageId(), p: new Uint8Array(limits.maxMlsMessageBytes + 1) }));
  const frames = await sock.waitFrames(2);
  expect(frames[1]).toMatchObject({ t: 'err', code: 'MALFORMED_FRAME', message: expect.stringContaining('frame.p') });

  const huge = await RawSocket.open(server.url);
  huge.send(new Uint8Array(3 * limits.maxFrameBytes));
  expect((await huge.waitClosed())?.code).toBe(1009);

  await alice.send({ conversation }, 'after');
  expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['before', 'after']);
  sock.close();
});
