// Attack: guessing, reusing or burning activation codes. A code works once and expires; wrong codes get one answer
// whatever the user or code, are limited per source address (so nobody can burn a colleague's code with a few junk
// tries), and kill the code only after limits.maxActivationAttempts of them.
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { limits, newDeviceId } from '@sealpost/protocol';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer | undefined;
const profiles: string[] = [];
afterEach(async () => {
  await server?.close();
  for (const p of profiles.splice(0)) rmSync(p, { recursive: true, force: true });
});

function enroll(s: TestServer, user: string, code: string): Promise<SealpostClient> {
  const profile = tempDir('act');
  profiles.push(profile);
  return SealpostClient.enroll({ server: s.url, user, code, profile });
}

it('is one-time', async () => {
  server = await startTestServer();
  const { activationCode } = await server.addUser('alice');
  const first = await enroll(server, 'alice@localhost', activationCode);
  await first.close();
  await expect(enroll(server, 'alice@localhost', activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_CODE_INVALID' });
});

/** An enrollment attempt with a junk code from `localAddress` (another loopback address than the real client's). */
async function junkEnroll(s: TestServer, user: string, localAddress: string): Promise<{ status: number; code: string }> {
  const body = JSON.stringify({
    user,
    code: 'AAAA-AAAA-AAAA',
    device: newDeviceId(),
    // Not even a valid signature: the code is checked first, so nothing else is looked at.
    deviceList: { body: 'AAAA', signature: 'AAAA' },
    keyPackages: ['AAAA'],
    lastResortKeyPackage: 'AAAA',
  });
  return new Promise((resolve, reject) => {
    const req = request(`${s.url}/v1/enroll`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

it("one address's wrong tries cannot burn a colleague's code; every wrong code gets the same answer", async () => {
  server = await startTestServer();
  const { activationCode } = await server.addUser('bob');
  await server.addUser('disabled-dan');
  await server.adminRequest('POST', '/v1/admin/users/disabled-dan@localhost/disable', {});
  // Unknown user, disabled user, real user: the same answer to a wrong code.
  for (const user of ['nobody@localhost', 'disabled-dan@localhost', 'bob@localhost']) {
    expect(await junkEnroll(server, user, '127.0.0.2')).toEqual({ status: 403, code: 'ACTIVATION_CODE_INVALID' });
  }
  for (let i = 0; i < 2; i++) expect((await junkEnroll(server, 'bob@localhost', '127.0.0.2')).code).toBe('ACTIVATION_CODE_INVALID');
  // Five wrong codes from one address, then that address waits.
  expect(await junkEnroll(server, 'bob@localhost', '127.0.0.2')).toEqual({ status: 429, code: 'RATE_LIMITED' });
  // Bob, from his own address, enrolls with his code.
  const bob = await enroll(server, 'bob@localhost', activationCode);
  await bob.close();
});

it(`dies after ${limits.maxActivationAttempts} wrong attempts from many addresses, even for the right code afterwards`, async () => {
  server = await startTestServer();
  const { activationCode } = await server.addUser('bob');
  for (let i = 0; i < limits.maxActivationAttempts; i++) {
    expect((await junkEnroll(server, 'bob@localhost', `127.0.1.${Math.floor(i / 5) + 1}`)).code).toBe('ACTIVATION_CODE_INVALID');
  }
  await expect(enroll(server, 'bob@localhost', activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_ATTEMPTS_EXCEEDED' });
  // A code for one user does not work for another.
  const carol = await server.addUser('carol');
  await expect(enroll(server, 'bob@localhost', carol.activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_CODE_INVALID' });
});

it('expires', async () => {
  server = await startTestServer({ activationTtlMs: 200 });
  const { activationCode } = await server.addUser('dave');
  await new Promise((r) => setTimeout(r, 300));
  await expect(enroll(server, 'dave@localhost', activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_CODE_EXPIRED' });
});
