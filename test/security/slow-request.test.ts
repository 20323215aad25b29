// Attack: open connections and send a request body a byte at a time, or nothing at all, to hold sockets open (before,
// fastify had no request or connection timeout: a slow body stayed open 130 s and more). Now the server answers 408
// and closes when a request takes longer than its timeout, and closes idle connections.
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer({ timeouts: { requestTimeoutMs: 1000, connectionTimeoutMs: 1000 } });
});
afterEach(async () => {
  await server.close();
});

/** Connect, write `head`, then one byte every 200 ms; resolves with what the server sent and when it closed. */
function slowClient(head: string, drip: boolean): Promise<{ answer: string; ms: number }> {
  const { hostname, port } = new URL(server.url);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(Number(port), hostname, () => sock.write(head));
    let answer = '';
    const timer = drip ? setInterval(() => sock.writable && sock.write('x'), 200) : undefined;
    const giveUp = setTimeout(() => reject(new Error('the server kept the socket open for 10 s')), 10_000);
    sock.on('data', (d) => (answer += d.toString()));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ answer, ms: performance.now() - t0 });
    });
  });
}

it('closes a request whose body drips in, and an idle connection', async () => {
  const slow = await slowClient('POST /v1/auth/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n', true);
  expect(slow.answer).toMatch(/^HTTP\/1.1 408/);
  const idle = await slowClient('', false);
  expect(idle.ms).toBeLessThan(9_000);
  // The server is fine.
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
});
