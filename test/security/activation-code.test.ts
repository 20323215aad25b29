// Attack: guessing or reusing activation codes. A code works once, dies after a few wrong tries, and expires.
import { rmSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { limits } from '@sealpost/protocol';
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

it('dies after too many wrong attempts, even for the right code afterwards', async () => {
  server = await startTestServer();
  const { activationCode } = await server.addUser('bob');
  for (let i = 1; i < limits.maxActivationAttempts; i++) {
    await expect(enroll(server, 'bob@localhost', 'AAAA-AAAA-AAAA')).rejects.toMatchObject({ code: 'ACTIVATION_CODE_INVALID' });
  }
  await expect(enroll(server, 'bob@localhost', 'AAAA-AAAA-AAAA')).rejects.toMatchObject({ code: 'ACTIVATION_ATTEMPTS_EXCEEDED' });
  await expect(enroll(server, 'bob@localhost', activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_ATTEMPTS_EXCEEDED' });
  // A code for one user does not work for another.
  const carol = await server.addUser('carol');
  await expect(enroll(server, 'bob@localhost', carol.activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_ATTEMPTS_EXCEEDED' });
});

it('expires', async () => {
  server = await startTestServer({ activationTtlMs: 200 });
  const { activationCode } = await server.addUser('dave');
  await new Promise((r) => setTimeout(r, 300));
  await expect(enroll(server, 'dave@localhost', activationCode)).rejects.toMatchObject({ code: 'ACTIVATION_CODE_EXPIRED' });
});
