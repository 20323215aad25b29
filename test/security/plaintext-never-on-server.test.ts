// Attack: a database thief (or a curious operator) reads the server's data folder — database, WAL, logs.
// A unique marker sent in a conversation must not appear anywhere in it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { chats, filesUnder, startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});


it('never writes message plaintext to the server data folder or its logs', async () => {
  const marker = `MARKER-${randomUUID()}`;
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, `first ${marker}`);
  await bob.client.sync();
  await bob.client.send({ conversation }, `reply ${marker}`);
  // Leave one message undelivered so its ciphertext is still stored server-side.
  await alice.client.send({ conversation }, `pending ${marker}`);
  expect(chats(await alice.client.sync()).map((m) => m.text)).toEqual([`reply ${marker}`]);

  const needle = Buffer.from(marker);
  const files = filesUnder(server.dataDir);
  expect(files.map((f) => f.slice(server.dataDir.length + 1)).sort()).toEqual(
    expect.arrayContaining(['sealpost.db', 'sealpost.db-wal', 'admin-token', 'server-key.pem']),
  );
  for (const f of files) expect(readFileSync(f).includes(needle), `${f} contains the marker`).toBe(false);
  const logs = server.logs.join('');
  expect(logs.length).toBeGreaterThan(0);
  expect(logs).not.toContain(marker);
  expect(logs).not.toContain(server.adminToken);

  // The check is meaningful: the marker does exist in plaintext on the clients' own devices.
  expect(filesUnder(alice.profile).some((f) => readFileSync(f).includes(needle))).toBe(true);
});
