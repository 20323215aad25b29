// Our HKDF (one-block fast path and the general loop) against node:crypto's own hkdfSync, for both hashes the MLS
// suites use, over every output length from 1 to several blocks.
import { hkdfSync, randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { hkdfExpand, hkdfExtract, hkdfWith } from './hkdf.node.js';

const cases = (hashLen: number) => [1, 12, 16, 31, 32, 33, 48, 63, 64, 65, 100, 3 * hashLen + 5];

it('HKDF-SHA256 gives what hkdfSync gives, at every length', () => {
  for (const length of cases(32)) {
    const ikm = randomBytes(40);
    const salt = randomBytes(16);
    const info = randomBytes(20);
    expect(hkdfExpand(hkdfExtract(salt, ikm), info, length)).toEqual(new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)));
  }
});

it('HKDF-SHA512 (the pq-hybrid suite) gives what hkdfSync gives, at every length', () => {
  const k = hkdfWith('sha512', 64);
  for (const length of cases(64)) {
    const ikm = randomBytes(40);
    const salt = randomBytes(16);
    const info = randomBytes(20);
    expect(k.expand(k.extract(salt, ikm), info, length)).toEqual(new Uint8Array(hkdfSync('sha512', ikm, salt, info, length)));
  }
  // An empty salt is HashLen zero bytes (RFC 5869 §2.2).
  const ikm = randomBytes(32);
  expect(k.extract(new Uint8Array(), ikm)).toEqual(k.extract(new Uint8Array(64), ikm));
});
