// Attack: reach the bridge from the network, where the password and the mail would cross readable. The bridge will
// not listen beyond loopback without TLS (INSECURE_LISTEN), for IMAP or SMTP.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { run } from '../mail-peers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;
let bob: TestClient;
beforeAll(async () => {
  server = await startTestServer();
  bob = await server.enroll('bob');
  await bob.client.close();
});
afterAll(() => server?.close());

it('refuses a non-loopback address without TLS', async () => {
  for (const args of [['--imap', '0.0.0.0:0'], ['--smtp', '0.0.0.0:0'], ['--imap', '[::]:0']]) {
    const r = await run(process.execPath, [bin, 'bridge', '--profile', bob.profile, ...args, '--json']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code, args.join(' ')).toBe(1);
    expect(JSON.parse(r.stderr.trim()).error.code).toBe('INSECURE_LISTEN');
  }
});
