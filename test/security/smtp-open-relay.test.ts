// Attack: use the inbound gateway as an open relay — hand it mail for a domain it does not serve, unauthenticated.
// It must refuse at RCPT (550 5.7.1) and nothing may reach the outbound queue or any device.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';
import { run } from '../mail-peers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ smtp: { host: '127.0.0.1', port: 0 } });
  await server.enroll('alice');
});
afterAll(() => server?.close());

it('refuses every recipient outside its own domain, and queues nothing', async () => {
  const port = server.started.smtpPort!;
  for (const rcpt of ['victim@gmail.example', 'alice@localhost.evil.example', 'alice@localhost@evil.example', '"alice@localhost"@evil.example']) {
    const res = await run('swaks', ['--server', `127.0.0.1:${port}`, '--to', rcpt, '--from', 'spammer@evil.example', '--silent', '1']).then(
      (r) => r.stdout + r.stderr,
      (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
    );
    // 550 5.7.1 (not our domain) or 501 (not an address at all): a refusal either way.
    expect(res, rcpt).toMatch(/(55\d 5\.\d\.\d|501 )/);
  }
  const queue = await server.adminRequest<{ queue: unknown[] }>('GET', '/v1/admin/mail/queue');
  expect(queue.queue).toEqual([]);
});
