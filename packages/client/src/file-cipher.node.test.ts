import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FILE_TAG_BYTES, cipherSizeOf } from '@sealpost/protocol';
import { decryptChunks, encryptChunks, rechunk } from './file-cipher.node.js';

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}
async function* from(...parts: Uint8Array[]) {
  for (const p of parts) yield p;
}
const chunkSize = 1024;

async function seal(plain: Buffer, key = randomBytes(32)) {
  const sealed = await collect(encryptChunks(key, from(plain), { plainSize: plain.length, chunkSize }));
  return { key, sealed };
}
const open = (key: Uint8Array, sealed: Uint8Array, plainSize: number) => collect(decryptChunks(key, from(sealed), { plainSize, chunkSize }));

describe('file cipher', () => {
  it('round-trips sizes around chunk boundaries, fed in odd pieces', async () => {
    for (const n of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 5 * chunkSize, 5 * chunkSize + 7]) {
      const plain = randomBytes(n);
      const { key, sealed } = await seal(plain);
      expect(sealed.length).toBe(cipherSizeOf(n, chunkSize));
      const pieces = [];
      for (let i = 0; i < sealed.length; i += 333) pieces.push(sealed.subarray(i, i + 333));
      expect(await collect(decryptChunks(key, from(...pieces), { plainSize: n, chunkSize }))).toEqual(plain);
    }
  });

  it('rechunks exactly', async () => {
    const out = [];
    for await (const c of rechunk(from(Buffer.alloc(5), Buffer.alloc(7), Buffer.alloc(1)), 4)) out.push(c.length);
    expect(out).toEqual([4, 4, 4, 1]);
  });

  const sealedLen = chunkSize + FILE_TAG_BYTES;
  const cases: [string, (s: Buffer, other: Buffer) => Buffer, string][] = [
    ['a flipped byte', (s) => { const t = Buffer.from(s); t[sealedLen + 10]! ^= 1; return t; }, 'FILE_CORRUPT'],
    ['a dropped chunk', (s) => Buffer.concat([s.subarray(0, sealedLen), s.subarray(2 * sealedLen)]), 'FILE_CORRUPT'],
    ['two chunks swapped', (s) => Buffer.concat([s.subarray(sealedLen, 2 * sealedLen), s.subarray(0, sealedLen), s.subarray(2 * sealedLen)]), 'FILE_CORRUPT'],
    ['a truncation at a chunk boundary', (s) => s.subarray(0, 2 * sealedLen), 'FILE_TRUNCATED'],
    ['a truncation inside a chunk', (s) => s.subarray(0, s.length - 5), 'FILE_TRUNCATED'],
    ['a chunk from another file', (s, other) => Buffer.concat([s.subarray(0, sealedLen), other.subarray(sealedLen, 2 * sealedLen), s.subarray(2 * sealedLen)]), 'FILE_CORRUPT'],
    ['extra bytes', (s) => Buffer.concat([s, Buffer.alloc(3)]), 'FILE_CORRUPT'],
  ];
  it.each(cases)('refuses %s', async (_name, tamper, code) => {
    const plain = randomBytes(3 * chunkSize + 100);
    const { key, sealed } = await seal(plain);
    const { sealed: other } = await seal(randomBytes(plain.length));
    await expect(open(key, tamper(sealed, other), plain.length)).rejects.toMatchObject({ code });
  });
});
