// Attack: whoever holds the server's disk alters an encrypted file — flips a byte, drops a chunk, cuts it short, or
// splices in a chunk of another file. The recipient refuses each with a clear error and writes no output file.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DEFAULT_FILE_CHUNK_SIZE, FILE_TAG_BYTES } from '@sealpost/protocol';
import type { ChatMessage, SealpostClient } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

const sealed = DEFAULT_FILE_CHUNK_SIZE + FILE_TAG_BYTES;

function blobPath(dataDir: string, id: string): string {
  return join(dataDir, 'blobs', id.slice(2, 4), id);
}

const attacks: [string, (blob: Buffer, other: Buffer) => Buffer, string, RegExp][] = [
  ['a flipped byte', (b) => { const t = Buffer.from(b); t[sealed + 1234]! ^= 0x40; return t; }, 'FILE_CORRUPT', /chunk 1 failed authentication/],
  ['a dropped chunk', (b) => Buffer.concat([b.subarray(0, sealed), b.subarray(2 * sealed)]), 'FILE_CORRUPT', /chunk 1 failed authentication/],
  ['a blob cut short at a chunk boundary', (b) => b.subarray(0, 2 * sealed), 'FILE_TRUNCATED', /ends after \d+ of \d+ bytes/],
  ['a chunk taken from another file', (b, o) => Buffer.concat([b.subarray(0, sealed), o.subarray(sealed, 2 * sealed), b.subarray(2 * sealed)]), 'FILE_CORRUPT', /chunk 1 failed authentication/],
];

it.each(attacks)('refuses %s', async (_name, tamper, code, message) => {
  const dir = tempDir('tamper');
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const size = 3 * DEFAULT_FILE_CHUNK_SIZE + 5000;
  writeFileSync(join(dir, 'a.bin'), randomBytes(size));
  writeFileSync(join(dir, 'b.bin'), randomBytes(size));
  await alice.send({ to: ['bob@localhost'] }, 'two files', { files: [join(dir, 'a.bin'), join(dir, 'b.bin')] });
  const [msg] = (await bob.sync()) as ChatMessage[];
  const [a, b] = msg!.attachments!;
  const target = blobPath(server.dataDir, a!.id);
  writeFileSync(target, tamper(readFileSync(target), readFileSync(blobPath(server.dataDir, b!.id))));

  const out = join(dir, 'out.bin');
  await expect(bob.saveAttachment(a!.id, out)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  // The untouched file still downloads.
  await (bob as SealpostClient).saveAttachment(b!.id, join(dir, 'b-copy.bin'));
  expect(readFileSync(join(dir, 'b-copy.bin')).equals(readFileSync(join(dir, 'b.bin')))).toBe(true);
});
