// Attack: one client floods its WebSocket with requests far faster than the server answers them. The server stops
// reading that socket while 64 requests wait (TCP pushes back on the client) instead of queueing without bound;
// every request is still answered, once and in order, and other clients are served meanwhile.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { encodeFrame } from '@sealpost/protocol';
import { chats, sessionTokenOf, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('slows a flooding client down without losing or reordering its requests, and serves others meanwhile', async () => {
  const flooder = await server.enroll('mallory');
  await flooder.client.sync(); // signs in: the profile now holds a session token
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const sock = await RawSocket.open(server.url);
  sock.send(encodeFrame({ t: 'auth', token: sessionTokenOf(flooder.profile) }));
  expect((await sock.waitFrames(1))[0]).toMatchObject({ t: 'auth-ok' });
  const N = 5_000;
  for (let r = 1; r <= N; r++) sock.send(encodeFrame({ t: 'fetch', r, after: 0, limit: 100 }));
  // Meanwhile the server answers everyone else.
  await alice.send({ to: ['bob@localhost'] }, 'not stuck behind mallory');
  expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['not stuck behind mallory']);
  const frames = await sock.waitFrames(N + 1);
  expect(frames.slice(1).map((f) => (f as { r: number }).r)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  expect(frames.slice(1).every((f) => f.t === 'batch')).toBe(true);
  expect(sock.closed).toBeUndefined();
});
