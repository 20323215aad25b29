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
  outsideMail: 'tls-allowed' as const,
  outsideMailPerDay: 500,
  ssoIssuer: null,
  ssoClientId: null,
  scimDeactivateWipe: false,
  scimGroupConversations: false,
  conversationSuite: 'pq-hybrid',
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

describe('outside mail policy', () => {
  it('takes openpgp-only, tls-allowed or off, and a daily limit, and shows them back', () => {
    expect(parsePolicySetting('outside-mail', 'OpenPGP-only')).toEqual({ outsideMail: 'openpgp-only' });
    expect(() => parsePolicySetting('outside-mail', 'maybe')).toThrow(/openpgp-only, tls-allowed, off/);
    expect(parsePolicySetting('outside-mail-per-day', '20')).toEqual({ outsideMailPerDay: 20 });
    expect(() => parsePolicySetting('outside-mail-per-day', '-1')).toThrow(/whole number/);
    const shown = describePolicy(checkPolicy({ ...base, outsideMail: 'off', outsideMailPerDay: 7 }));
    expect([shown['outside-mail'], shown['outside-mail-per-day']]).toEqual(['off', '7']);
  });
});
