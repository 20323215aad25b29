// Attack: open WebSockets from one address and never authenticate, to use up the server's sockets (before, there
// was no cap per address or in all). Now one address may hold 64 sockets that have not authenticated (each is
// closed after 10 s anyway) and open at most 60 at once (then 2 a second); others connect as usual.
import { afterEach, expect, it } from 'vitest';
import { encodeFrame } from '@sealpost/protocol';
import { MAX_UNAUTHENTICATED_PER_ADDRESS } from '@sealpost/server';
import { sessionTokenOf, startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
const sockets: RawSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.ws.terminate();
  await server.close();
});

it('caps the unauthenticated sockets of one address', async () => {
  server = await startTestServer({ rateLimits: { wsUpgrades: { burst: 1000, perMinute: 1000 } } });
  for (let i = 0; i < MAX_UNAUTHENTICATED_PER_ADDRESS; i++) sockets.push(await RawSocket.open(server.url, { localAddress: '127.0.0.2' }));
  const over = await RawSocket.open(server.url, { localAddress: '127.0.0.2' });
  expect((await over.waitClosed())?.code).toBe(1013);
  expect(sockets.every((s) => !s.closed)).toBe(true);

  // Someone else, from another address, signs in as usual.
  const alice = await server.enroll('alice');
  await alice.client.sync();
  const sock = await RawSocket.open(server.url);
  sock.send(encodeFrame({ t: 'auth', token: sessionTokenOf(alice.profile) }));
  expect((await sock.waitFrames(1))[0]).toMatchObject({ t: 'auth-ok' });
  sockets.push(sock);
});

it('limits how fast one address opens sockets', async () => {
  server = await startTestServer();
  const refused: unknown[] = [];
  for (let i = 0; i < 70; i++) {
    await RawSocket.open(server.url, { localAddress: '127.0.0.3' }).then(
      (s) => {
        sockets.push(s);
        s.ws.close();
      },
      (err: Error) => refused.push(err.message),
    );
  }
  expect(refused.length).toBeGreaterThan(0);
  expect(String(refused[0])).toMatch(/429/);
});
