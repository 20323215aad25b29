// Attack: one unauthenticated WebSocket frame holding a CBOR bignum (tag 2) of nearly 1 MiB. cbor-x decodes tag 2
// in quadratic time (minutes for 1 MB) on the event loop, so before the CBOR profile one such frame froze the server
// for every user. Now it is refused as MALFORMED_FRAME in microseconds, and /healthz stays fast throughout.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { limits } from '@sealpost/protocol';
import { startTestServer, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

/** A CBOR tag-`tag` byte string of `n` bytes: 0xc2/0xc3, then a 4-byte-length byte string header. */
function bignumFrame(tag: 2 | 3, n: number): Uint8Array {
  const b = new Uint8Array(6 + n).fill(0xab);
  b[0] = 0xc0 | tag;
  b[1] = 0x5a;
  new DataView(b.buffer).setUint32(2, n);
  return b;
}

it('refuses bignum frames at once and keeps answering /healthz', async () => {
  const sock = await RawSocket.open(server.url);
  const n = limits.maxFrameBytes - 64;
  for (let i = 0; i < 4; i++) sock.send(bignumFrame(i % 2 === 0 ? 2 : 3, n));
  const frames = await sock.waitFrames(4);
  expect(frames).toHaveLength(4);
  for (const f of frames) expect(f).toMatchObject({ t: 'err', code: 'MALFORMED_FRAME', message: expect.stringMatching(/tag [23]: tags are not used/) });

  // The same frames inside a map value (where a schema would only look after decoding).
  const inner = bignumFrame(2, 300_000);
  const map = new Uint8Array([0xa1, 0x61, 0x70, ...inner]);
  sock.send(map);
  const more = await sock.waitFrames(5);
  expect(more[4]).toMatchObject({ t: 'err', code: 'MALFORMED_FRAME', message: expect.stringMatching(/tag 2.*offset 3/) });

  const t0 = performance.now();
  const res = await fetch(`${server.url}/healthz`);
  expect(res.status).toBe(200);
  // Not a benchmark: before the fix this took minutes, so any answer within seconds shows the loop is free.
  expect(performance.now() - t0).toBeLessThan(5_000);
  sock.close();
});
