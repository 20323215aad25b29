// Self-monitoring judges every version of the user's own label it is shown: records of an earlier account (before
// an admin reset) are not its business; from this account's first record on, anything this account did not sign,
// a list version going back, or a latest version older than one seen before, is reported.
import { describe, expect, it } from 'vitest';
import { toBase64Url, type AccountRecord } from '@sealpost/protocol';
import { checkOwnVersions } from './kt-verifier.js';

const key = new Uint8Array(32).fill(1);
const other = new Uint8Array(32).fill(2);
const hash = (n: number) => new Uint8Array(32).fill(n);
const rec = (accountKey: Uint8Array, deviceListVersion: number, h = hash(deviceListVersion)): AccountRecord => ({ accountKey, deviceListVersion, deviceListHash: h });
const lists = new Map([1, 2, 3].map((v) => [v, hash(v)] as const));
const at = (...records: AccountRecord[]) => records.map((record, i) => ({ version: i + 1, record }));

describe('checkOwnVersions', () => {
  it('accepts versions this account made, and ignores an earlier account\'s before its first record', () => {
    expect(checkOwnVersions(at(rec(key, 1), rec(key, 2), rec(key, 3)), 3, 0, key, lists)).toEqual([]);
    const retired = rec(new Uint8Array(0), 0, new Uint8Array(0));
    expect(checkOwnVersions(at(rec(other, 4, hash(9)), retired, rec(key, 1), rec(key, 2)), 4, 0, key, lists)).toEqual([]);
  });

  it('reports a version in between with another key, even when the latest is this account\'s again', () => {
    const problems = checkOwnVersions(at(rec(key, 1), rec(other, 7, hash(7)), rec(key, 2)), 3, 0, key, lists);
    expect(problems).toEqual([expect.stringMatching(/version 2 in the log carries an account key that is not this account's/)]);
  });

  it('reports a retirement this device never went through, a list it did not sign, and a list version going back', () => {
    expect(checkOwnVersions(at(rec(key, 1), rec(new Uint8Array(0), 0)), 2, 1, key, lists).join()).toMatch(/version 2 in the log retires this account/);
    expect(checkOwnVersions(at(rec(key, 1), rec(key, 2, hash(99))), 2, 1, key, lists).join()).toMatch(/version 2 .* device list \(version 2\) this account did not sign/);
    expect(checkOwnVersions(at(rec(key, 1), rec(key, 2), rec(key, 1)), 3, 1, key, lists).join()).toMatch(/version 3 in the log goes back to device list version 1/);
  });

  it('takes a version with the same device list only as a legal hold placed or released, signed for this account', () => {
    const held = (r: AccountRecord, n: number): AccountRecord => ({ ...r, holdHash: hash(100 + n) });
    const holds = new Map([[toBase64Url(hash(101)), {}], [toBase64Url(hash(102)), {}]]);
    // placed, then released: two versions on device list 2
    expect(checkOwnVersions(at(rec(key, 1), rec(key, 2), held(rec(key, 2), 1), held(rec(key, 2), 2)), 4, 0, key, lists, holds)).toEqual([]);
    // the same list twice with no hold change, or a hold this account's organisation did not sign
    expect(checkOwnVersions(at(rec(key, 1), held(rec(key, 2), 1), held(rec(key, 2), 1)), 3, 0, key, lists, holds).join()).toMatch(/version 3 in the log goes back to device list version 2/);
    expect(checkOwnVersions(at(rec(key, 1), held(rec(key, 1), 7)), 2, 0, key, lists, holds).join()).toMatch(/version 2 in the log commits to a legal hold that your organisation's key did not sign/);
  });

  it('reports a latest version older than one this device verified (a rolled-back log), and a log without this account', () => {
    expect(checkOwnVersions([], 2, 5, key, lists).join()).toMatch(/latest version of this account is 2, older than version 5/);
    expect(checkOwnVersions(at(rec(other, 1)), 1, 0, key, lists).join()).toMatch(/no record with this account's key/);
  });
});
