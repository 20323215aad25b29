import { describe, expect, it } from 'vitest';
import { checkPolicy, describePolicy, parsePolicySetting } from './policy.js';

const base = {
  maxDevicesPerUser: 10,
  retentionDefaultMs: null,
  retentionMaxMs: null,
  maxAttachmentBytes: 1024 ** 3,
  requirePassphrase: false,
  activationCodeTtlMs: 7 * 86_400_000,
  ktAuditors: [],
  ktMinAuditorSignatures: 0,
  keyUpdateIntervalMs: 7 * 86_400_000,
  keyChangeContestMs: 86_400_000,
};

describe('policy', () => {
  it('names a broken rule by the setting an admin types, not the field behind it', () => {
    expect(() => checkPolicy({ ...base, maxDevicesPerUser: 0 })).toThrow(/^policy max-devices: /);
    expect(() => checkPolicy({ ...base, retentionDefaultMs: 2 * 86_400_000, retentionMaxMs: 86_400_000 })).toThrow(
      'retention-default must not be longer than retention-max',
    );
    expect(() => checkPolicy({ ...base, ktMinAuditorSignatures: 1 })).toThrow('kt-min-auditors must not exceed the number of kt-auditors');
  });

  it('takes the key-change contest period in days, hours, minutes or seconds, and shows it back', () => {
    expect(parsePolicySetting('key-change-contest', '1d')).toEqual({ keyChangeContestMs: 86_400_000 });
    expect(parsePolicySetting('key-change-contest', '5s')).toEqual({ keyChangeContestMs: 5000 });
    expect(() => checkPolicy({ ...base, keyChangeContestMs: 500 })).toThrow(/key-change-contest/);
    expect(describePolicy(checkPolicy({ ...base, keyChangeContestMs: 5000 }))['key-change-contest']).toBe('5s');
    expect(describePolicy(checkPolicy(base))['key-change-contest']).toBe('1d');
  });
});
