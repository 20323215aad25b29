// Attack: someone copies a device's whole profile (keys and MLS state) — a stolen backup, malware that was later
// removed — and keeps reading what arrives for it. MLS heals such a device only once it commits fresh keys, which
// before happened only on membership changes. Now every device commits an update on the policy's
// key-update-interval and on `devices rotate`: the copy cannot read anything sent after the update.
import { cpSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

async function stealAndListen(rotate: (bob: SealpostClient) => Promise<unknown>): Promise<{ stolen: string[]; unreadable: number }> {
  const alice = (await server.enroll('alice')).client;
  const bob = await server.enroll('bob');
  const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'before');
  expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['before']);
  await bob.client.close();
  const copy = tempDir('stolen');
  cpSync(bob.profile, copy, { recursive: true });

  const real = server.track(await SealpostClient.open(bob.profile));
  await rotate(real);
  await real.close();
  await alice.sync(); // alice takes bob's update
  await alice.send({ conversation }, 'after');

  const thief = server.track(await SealpostClient.open(copy, { warn: () => {} }));
  const stolen = chats(await thief.sync()).map((m) => m.text);
  return { stolen, unreadable: thief.unreadable().length };
}

it('a copy of a device taken before `devices rotate` reads nothing sent after it', async () => {
  const { stolen, unreadable } = await stealAndListen((bob) => bob.rotateKeys());
  expect(stolen).toEqual([]);
  expect(unreadable).toBeGreaterThan(0);
});

it('without an update the copy reads on (what the update prevents)', async () => {
  const { stolen } = await stealAndListen(async () => {});
  expect(stolen).toEqual(['after']);
});

it('the policy interval makes every device update on its own', async () => {
  await server.adminRequest('PUT', '/v1/admin/policy', { change: { keyUpdateIntervalMs: 10_000 } });
  const { stolen } = await stealAndListen(async (bob) => {
    await new Promise((r) => setTimeout(r, 10_500));
    await bob.sync(); // the interval has passed: sync commits an update in every conversation
  });
  expect(stolen).toEqual([]);
}, 60_000);
