import { describe, expect, it } from 'vitest';
import { checkCborProfile, MAX_CBOR_DEPTH } from './cbor-profile.js';
import { decodeCbor, encodeCbor } from './codec.js';
import { SealpostError } from './errors.js';

const check = (b: Uint8Array | number[]) => checkCborProfile(b instanceof Uint8Array ? b : new Uint8Array(b), 'x');
const refusal = (b: Uint8Array | number[]): string => {
  try {
    check(b);
  } catch (err) {
    expect(err).toBeInstanceOf(SealpostError);
    expect((err as SealpostError).code).toBe('MALFORMED_FRAME');
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('checkCborProfile', () => {
  it('accepts everything our encoder writes', () => {
    const values: unknown[] = [
      0, -1, 23, 24, 255, 65536, 2 ** 40, -(2 ** 40), 1.5, -0.25, Number.MAX_SAFE_INTEGER, true, false, null, undefined, '',
      'héllo', new Uint8Array(0), new Uint8Array(70_000), [], [1, [2, [3]]], {}, { t: 'send', r: 1, p: new Uint8Array([1, 2]), b: ['x'] },
      { a: { b: { c: [new Uint8Array(3), 'z'] } } }, [[1, new Uint8Array(5)], ['s', new Uint8Array(2)]],
    ];
    for (const v of values) expect(() => check(encodeCbor(v)), JSON.stringify(v)).not.toThrow();
  });

  it('refuses every tag, before any work on its content (RFC 8949 §3.4)', () => {
    // Tag 2 (positive bignum) over 8 bytes, tag 1 (epoch time), tag 258 (set) and a tag inside a map value.
    expect(refusal([0xc2, 0x48, 1, 2, 3, 4, 5, 6, 7, 8])).toMatch(/tag 2: tags are not used.*offset 0/);
    expect(refusal([0xc1, 0x00])).toMatch(/tag 1/);
    expect(refusal([0xd9, 0x01, 0x02, 0x80])).toMatch(/tag 258/);
    expect(refusal([0xa1, 0x61, 0x61, 0xc3, 0x41, 0x00])).toMatch(/tag 3.*offset 3/);
  });

  it('refuses indefinite lengths, stray breaks and reserved additional information (§3.2)', () => {
    expect(refusal([0x9f, 0x01, 0xff])).toMatch(/indefinite/);
    expect(refusal([0x5f, 0x41, 0x00, 0xff])).toMatch(/indefinite/);
    expect(refusal([0xff])).toMatch(/unexpected break/);
    expect(refusal([0x1c])).toMatch(/reserved additional information 28/);
  });

  it('refuses lengths and counts that run past the end, and truncation', () => {
    expect(refusal([0x5a, 0xff, 0xff, 0xff, 0xff, 0x00])).toMatch(/string of 4294967295 bytes runs past/);
    expect(refusal([0x9b, 0, 0, 0, 1, 0, 0, 0, 0])).toMatch(/array of 4294967296 entries runs past/);
    expect(refusal([0xb9, 0xff, 0xff])).toMatch(/map of 65535 entries/);
    expect(refusal([0x19, 0x01])).toMatch(/truncated/);
    expect(refusal([0x82, 0x01])).toMatch(/array of 2 entries runs past/);
    expect(refusal([0x82, 0x01, 0x19])).toMatch(/truncated/);
    expect(refusal([])).toMatch(/truncated/);
  });

  it('refuses map keys that are not text or integers, deep nesting and trailing bytes', () => {
    expect(refusal([0xa1, 0x80, 0x01])).toMatch(/map key/);
    expect(refusal([0xa1, 0x41, 0x00, 0x01])).toMatch(/map key/);
    expect(() => check([0xa2, 0x01, 0x02, 0x20, 0x03])).not.toThrow();
    const deep = new Uint8Array(MAX_CBOR_DEPTH + 1).fill(0x81);
    expect(refusal([...deep, 0x00])).toMatch(/nested deeper than 32/);
    expect(() => check([...new Uint8Array(MAX_CBOR_DEPTH).fill(0x81), 0x00])).not.toThrow();
    expect(refusal([0x01, 0x02])).toMatch(/1 bytes after the CBOR value/);
  });

  it('makes decodeCbor refuse a 1 MB bignum before cbor-x sees it', () => {
    // Before the profile, cbor-x spent minutes on this (its tag 2 decoder is quadratic).
    const big = new Uint8Array(1024 * 1024 - 16);
    const frame = new Uint8Array([0xc2, 0x5a, 0, 0x0f, 0xff, 0xf0]);
    const bytes = new Uint8Array(frame.length + big.length);
    bytes.set(frame);
    bytes.set(big, frame.length);
    expect(() => decodeCbor(bytes, 2 * 1024 * 1024, 'frame')).toThrow(/tag 2: tags are not used/);
  });
});
