import { describe, expect, it } from 'vitest';
import { retirementBetween } from './trust.js';

const key = (b: number) => new Uint8Array(32).fill(b);
const retired = new Uint8Array(0);
const at = (...keys: Uint8Array[]) => keys.map((accountKey, i) => ({ version: i + 1, record: { accountKey } }));

describe('retirementBetween: a new account key is believed only after a reset in the log', () => {
  it('finds the retirement between the old key and the new one', () => {
    expect(retirementBetween(at(key(1), key(1), retired, key(2)), key(1), key(2))).toBe(3);
    expect(retirementBetween(at(key(1), retired, retired, key(2), key(2)), key(1), key(2))).toBe(2);
  });

  it('refuses a new key that follows the old one directly (an operator swap), also after an earlier reset', () => {
    expect(retirementBetween(at(key(1), key(2)), key(1), key(2))).toBeUndefined();
    expect(retirementBetween(at(key(0), retired, key(1), key(2)), key(1), key(2))).toBeUndefined();
    expect(retirementBetween(at(key(1), retired, key(1), key(2)), key(1), key(2))).toBeUndefined();
  });

  it('refuses a key the log never held', () => {
    expect(retirementBetween(at(key(1), retired), key(1), key(2))).toBeUndefined();
  });
});
