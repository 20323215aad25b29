// Attack: one device opens many sockets to exhaust the server. Each device gets at most a few connections.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ProfileStore } from '@sealpost/client';
import { encodeFrame, limits } from '@sealpost/protocol';
import { startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it(`refuses more than ${limits.maxConnectionsPerDevice} connections per device`, async () => {
  const alice = await server.enroll('alice');
  await alice.client.sync(); // obtains a session token
  const store = ProfileStore.open(alice.profile, { create: false });
  const token = store.getMetaText('session_token')!;
  store.close();
  await alice.client.close(); // frees its own connection

  const sockets: RawSocket[] = [];
  for (let i = 0; i <= limits.maxConnectionsPerDevice; i++) {
    const s = await RawSocket.open(server.url);
    s.send(encodeFrame({ t: 'auth', token }));
    await s.waitFrames(1);
    sockets.push(s);
  }
  const answers = sockets.map((s) => s.frames[0]);
  expect(answers.slice(0, limits.maxConnectionsPerDevice).every((f) => f?.t === 'auth-ok')).toBe(true);
  expect(answers[limits.maxConnectionsPerDevice]).toMatchObject({ t: 'err', code: 'TOO_MANY_CONNECTIONS' });
  expect((await sockets[limits.maxConnectionsPerDevice]!.waitClosed())?.code).toBe(4029);

  // Closing one frees a slot.
  sockets[0]!.close();
  await sockets[0]!.waitClosed();
  await new Promise((r) => setTimeout(r, 100));
  const again = await RawSocket.open(server.url);
  again.send(encodeFrame({ t: 'auth', token }));
  expect((await again.waitFrames(1))[0]).toMatchObject({ t: 'auth-ok' });
  for (const s of [...sockets, again]) s.close();
});
