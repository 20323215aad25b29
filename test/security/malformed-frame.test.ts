// Attack: garbage, text frames, unknown frame types, frames that fail the schema, requests before authentication,
// and a forged session token. Each gets an `err` frame with a stable code; the server keeps serving others.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { encodeCbor, encodeFrame, newConversationId, newMessageId } from '@sealpost/protocol';
import { chats, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('answers malformed frames with clear errors and keeps serving', async () => {
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const sock = await RawSocket.open(server.url);
  const attacks: [Uint8Array | string, string, RegExp][] = [
    [new Uint8Array([0xff, 0xfe, 0x00]), 'MALFORMED_FRAME', /not valid CBOR/],
    ['{"t":"auth"}', 'MALFORMED_FRAME', /text frames/],
    [encodeCbor({ t: 'self-destruct' }), 'MALFORMED_FRAME', /frame/],
    [encodeCbor({ t: 'fetch', r: 1, after: -5, limit: 10 }), 'MALFORMED_FRAME', /frame\.after/],
    [encodeCbor([1, 2, 3]), 'MALFORMED_FRAME', /frame/],
    [encodeFrame({ t: 'send', r: 2, c: newConversationId(), e: 0, id: newMessageId(), p: new Uint8Array(4) }), 'UNAUTHENTICATED', /auth frame first/],
  ];
  for (const [data] of attacks) sock.send(data);
  const frames = await sock.waitFrames(attacks.length);
  attacks.forEach(([, code, message], i) => expect(frames[i]).toMatchObject({ t: 'err', code, message: expect.stringMatching(message) }));
  expect(sock.closed).toBeUndefined();

  // A forged token: refused, and the socket is closed.
  sock.send(encodeFrame({ t: 'auth', token: 'forged-token' }));
  const all = await sock.waitFrames(attacks.length + 1);
  expect(all[attacks.length]).toMatchObject({ t: 'err', code: 'UNAUTHENTICATED' });
  expect((await sock.waitClosed())?.code).toBe(4001);

  // Everyone else is fine.
  await alice.send({ to: ['bob@localhost'] }, 'still working');
  expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['still working']);
});

it('closes a socket that keeps sending garbage', async () => {
  const sock = await RawSocket.open(server.url);
  for (let i = 0; i < 25; i++) sock.send(new Uint8Array([0xff]));
  expect((await sock.waitClosed())?.code).toBe(1008);
});
