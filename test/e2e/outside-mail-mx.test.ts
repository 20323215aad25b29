// Outbound delivery by MX, as on the internet: the recipient domain's MX records (from the resolver; fixed answers here)
// tried best first, the next one when the first does not answer, and a domain with a null MX (RFC 7505) bounced.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { fixedDns, startSink, until, type Sink } from '../mail-peers.js';

let server: TestServer;
let alice: TestClient;
let sink: Sink;
beforeAll(async () => {
  sink = await startSink();
  // Port 25 cannot be taken in a test: MX hosts are reached on the sink's port (mxPort); the MX logic is unchanged.
  const resolver = fixedDns({
    'MX:mx.example': [
      { exchange: '127.0.0.2', priority: 5 }, // nothing listens there: the next MX is tried
      { exchange: '127.0.0.1', priority: 10 },
    ],
    'MX:nomail.example': [{ exchange: '', priority: 0 }],
  });
  server = await startTestServer({ outbound: { resolver: resolver as never, mxPort: sink.port, retryMs: [300], giveUpMs: 60_000 } });
  alice = await server.enroll('alice');
});
afterAll(async () => {
  await server?.close();
  await sink?.close();
});

it('delivers to the best MX that answers', async () => {
  await alice.client.sendMail({ to: ['dan@mx.example'], subject: 'by mx', text: 'hello' }, { allowReadable: true });
  const got = await until(() => sink.messages.find((m) => m.raw.includes('Subject: by mx')), 20_000, 'delivery by MX');
  expect(got.to).toEqual(['dan@mx.example']);
});

it('bounces mail for a domain that takes none (null MX)', async () => {
  await alice.client.sendMail({ to: ['x@nomail.example'], subject: 'nowhere', text: 'x' }, { allowReadable: true });
  const bounce = await until(async () => {
    await alice.client.sync();
    return alice.client.mailList('inbox').find((m) => m.subject === 'Undelivered mail returned to sender');
  }, 20_000, 'the bounce');
  expect(alice.client.readMail(bounce.id).text).toMatch(/x@nomail\.example: nomail\.example accepts no mail/);
});
