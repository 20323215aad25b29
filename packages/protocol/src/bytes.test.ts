import { describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes, fromBase64Url, randomBytes, toBase64Url } from './bytes.js';

describe('bytes', () => {
  it('base64url round-trips every length and matches Node', () => {
    for (let n = 0; n < 70; n++) {
      const b = randomBytes(n);
      const s = toBase64Url(b);
      expect(s).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64Url(s)).toEqual(b);
    }
  });
  it('refuses malformed and non-canonical base64url', () => {
    for (const bad of ['a', 'ab=', 'a+b/', 'ab c', 'AB==', 'AF']) expect(fromBase64Url(bad)).toBeUndefined();
  });
  it('compares and concatenates', () => {
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(bytesEqual(new Uint8Array([1]), new Uint8Array([1, 2]))).toBe(false);
    expect(concatBytes(new Uint8Array([1]), new Uint8Array([2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
  });
});
