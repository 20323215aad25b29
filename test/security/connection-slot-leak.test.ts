// Attack: open sockets, send the auth frame and close at once, while the session lookup is still waiting on the
// store (30 ms here, as on PostgreSQL). Before, each such socket kept its connection slot when the lookup came
// back, and four of them locked the device out with TOO_MANY_CONNECTIONS until the server restarted.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { encodeFrame, limits } from '@sealpost/protocol';
import { sessionTokenOf, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('a socket closed during its auth lookup does not keep a connection slot', async () => {
  const alice = await server.enroll('alice');
  await alice.client.sync();
  const token = sessionTokenOf(alice.profile);
  await alice.client.close();

  const store = server.started.server.ctx.store;
  const getSession = store.getSession.bind(store);
  store.getSession = async (...args) => {
    await new Promise((r) => setTimeout(r, 30));
    return getSession(...args);
  };
  for (let i = 0; i < 2 * limits.maxConnectionsPerDevice; i++) {
    const s = await RawSocket.open(server.url);
    s.send(encodeFrame({ t: 'auth', token }));
    s.ws.terminate();
  }
  await new Promise((r) => setTimeout(r, 200)); // every lookup has come back
  expect(server.started.server.connections.size).toBe(0);

  const sock = await RawSocket.open(server.url);
  sock.send(encodeFrame({ t: 'auth', token }));
  expect((await sock.waitFrames(1))[0]).toMatchObject({ t: 'auth-ok' });
  sock.close();
});
