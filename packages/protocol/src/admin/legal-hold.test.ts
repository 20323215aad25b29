import { describe, expect, it } from 'vitest';
import { defaultCiphersuite } from '../mls/ciphersuite.js';
import { parseUserId } from '../ids.js';
import { encodeCbor } from '../codec.js';
import { decodeAccountRecord, encodeAccountRecord } from '../kt/records.js';
import { decodeLegalHold, holdActive, legalHoldHash, signLegalHold, verifyLegalHold, type LegalHold } from './legal-hold.js';

async function setup() {
  const cs = await defaultCiphersuite();
  const org = await cs.signature.keygen();
  const other = await cs.signature.keygen();
  const user = parseUserId('bob@example.org');
  const hold: LegalHold = { id: 'h_0123456789abcdef', user, reason: 'case 2026-17: litigation hold', since: 1_000, until: 9_000 };
  return { cs, org, other, user, hold };
}

describe('legal hold', () => {
  it('is signed by the organisation key, names one user, and is the one the log commits to', async () => {
    const { cs, org, user, hold } = await setup();
    const signed = await signLegalHold(cs.signature, org.signKey, hold);
    expect(decodeLegalHold(signed.body)).toEqual(hold);
    expect(await verifyLegalHold(cs.signature, org.publicKey, signed, user, legalHoldHash(signed))).toEqual({ kind: 'ok', hold });
  });

  it('refuses another key, another user, a changed byte, and a hold the log does not hold', async () => {
    const { cs, org, other, user, hold } = await setup();
    const signed = await signLegalHold(cs.signature, org.signKey, hold);
    const forged = await signLegalHold(cs.signature, other.signKey, hold);
    expect(await verifyLegalHold(cs.signature, org.publicKey, forged, user)).toEqual({ kind: 'rejected', reason: 'bad-signature' });
    expect(await verifyLegalHold(cs.signature, org.publicKey, signed, parseUserId('carol@example.org'))).toEqual({ kind: 'rejected', reason: 'wrong-user' });
    const flipped = { ...signed, body: signed.body.slice() };
    flipped.body[flipped.body.length - 1]! ^= 1;
    expect((await verifyLegalHold(cs.signature, org.publicKey, flipped, user)).kind).toBe('rejected');
    const released = await signLegalHold(cs.signature, org.signKey, { ...hold, releasedAt: 5_000 });
    expect(await verifyLegalHold(cs.signature, org.publicKey, signed, user, legalHoldHash(released))).toEqual({ kind: 'rejected', reason: 'not-in-log' });
    expect(await verifyLegalHold(cs.signature, org.publicKey, { body: encodeCbor(['sealpost-legal-hold-v1', 'x']), signature: signed.signature }, user)).toEqual({ kind: 'rejected', reason: 'malformed' });
  });

  it('records from its start until released or past its end', async () => {
    const { hold } = await setup();
    expect([holdActive(hold, 999), holdActive(hold, 1_000), holdActive(hold, 8_999), holdActive(hold, 9_000)]).toEqual([false, true, true, false]);
    expect(holdActive({ ...hold, releasedAt: 2_000 }, 1_500)).toBe(false);
  });

  it('is in the account record only when there is one: records without keep their bytes', async () => {
    const { cs, org, hold } = await setup();
    const base = { accountKey: new Uint8Array(32).fill(1), deviceListVersion: 3, deviceListHash: new Uint8Array(32).fill(2) };
    expect(encodeAccountRecord(base)).toEqual(encodeCbor(['sealpost-account-record-v1', base.accountKey, 3, base.deviceListHash]));
    expect(decodeAccountRecord(encodeAccountRecord(base))).toEqual(base);
    const holdHash = legalHoldHash(await signLegalHold(cs.signature, org.signKey, hold));
    expect(decodeAccountRecord(encodeAccountRecord({ ...base, holdHash }))).toEqual({ ...base, holdHash });
  });
});
