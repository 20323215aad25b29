// Attack: upload until the server's volume is full, so the database (on the same volume) can no longer write and
// every user's messages fail. Now uploads stop while less than --min-free-disk is free (STORAGE_FULL, 507), and
// chat, which needs only the database, goes on.
import { statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

it('refuses uploads that would eat the space kept for the database, and chat goes on', async () => {
  // Keep more than this volume has free: any upload now crosses the line, as on a nearly full disk.
  const dir = tempDir('fill');
  const s = statfsSync(dir);
  server = await startTestServer({ minFreeBytes: s.bavail * s.bsize + 1024 ** 4 });
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const file = join(dir, 'big.bin');
  writeFileSync(file, new Uint8Array(64 * 1024));
  await expect(alice.send({ to: ['bob@localhost'] }, 'with a file', { files: [file] })).rejects.toMatchObject({ code: 'STORAGE_FULL' });
  await alice.send({ to: ['bob@localhost'] }, 'text still goes');
  expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['text still goes']);
});
