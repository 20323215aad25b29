// What a new admin meets in the first week, through the server's API and the built CLI: a device's lastSeenAt is
// its last activity (not its last sign-in); the root admin token rotates.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
function sealpost(args: string[], token: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, SEALPOST_SERVER: server!.url, SEALPOST_ADMIN_TOKEN: token }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

it("reports a device's last activity as lastSeenAt, not its last sign-in", async () => {
  let offset = 0;
  server = await startTestServer({ clock: { now: () => Date.now() + offset } });
  const bob = await server.enroll('bob');
  await bob.client.sync();
  const list = async () => ((await server!.adminRequest<{ devices: { lastSeenAt: string | null }[] }>('GET', '/v1/admin/users/bob%40localhost/devices')).devices[0]!.lastSeenAt);
  const signedIn = Date.parse((await list())!);
  // 40 minutes later (the hour-long session still valid), bob's device fetches its queue again.
  offset = 40 * 60_000;
  await bob.client.sync();
  const seen = Date.parse((await list())!);
  expect(seen - signedIn).toBeGreaterThanOrEqual(40 * 60_000 - 5_000);
});

it('rotates the root admin token: the old one stops working, the new one is in the data folder', async () => {
  server = await startTestServer();
  const old = server.adminToken;
  const rotated = await sealpost(['admin', 'token', 'rotate', 'root', '--json'], old);
  expect(rotated.code, rotated.stderr).toBe(0);
  const fresh = (JSON.parse(rotated.stdout) as { token: string }).token;
  expect(fresh).not.toBe(old);
  expect(readFileSync(server.started.adminTokenFile, 'utf8').trim()).toBe(fresh);
  const withOld = await sealpost(['admin', 'user', 'list'], old);
  expect(withOld.code).toBe(1);
  expect(withOld.stderr).toContain('[ADMIN_TOKEN_INVALID]');
  expect((await sealpost(['admin', 'user', 'list'], fresh)).code).toBe(0);
  const named = await sealpost(['admin', 'token', 'rotate', 'helpdesk'], fresh);
  expect(named.stderr).toMatch(/only the root token is rotated.*\[INVALID_INPUT\]/);
  const audit = await sealpost(['admin', 'audit', '--json'], fresh);
  expect(audit.stdout).toContain('"action":"admin-token.rotate"');
});
