import { describe, expect, it } from 'vitest';
import { defaultCiphersuite } from './mls/ciphersuite.js';
import { decodeDeviceList, encodeDeviceList, signDeviceList, verifyDeviceList, type DeviceList } from './device-list.js';
import { newDeviceId, parseUserId } from './ids.js';
import { encodeCbor } from './codec.js';

async function setup() {
  const cs = await defaultCiphersuite();
  const account = await cs.signature.keygen();
  const device = await cs.signature.keygen();
  const user = parseUserId('alice@localhost');
  const list: DeviceList = { user, version: 1, accountKey: account.publicKey, devices: [{ id: newDeviceId(), signatureKey: device.publicKey, addedAt: 1 }] };
  return { cs, account, user, list };
}

describe('device list', () => {
  it('encodes, signs and verifies', async () => {
    const { cs, account, user, list } = await setup();
    expect(decodeDeviceList(encodeDeviceList(list))).toEqual(list);
    const signed = await signDeviceList(cs.signature, account.signKey, list);
    expect(await verifyDeviceList(cs.signature, signed, { user })).toEqual({ kind: 'ok', list });
  });

  it('rejects a changed byte, another user, another account key, and a rollback', async () => {
    const { cs, account, user, list } = await setup();
    const signed = await signDeviceList(cs.signature, account.signKey, { ...list, version: 5 });
    const flipped = { ...signed, body: signed.body.slice() };
    flipped.body[flipped.body.length - 1]! ^= 1;
    expect((await verifyDeviceList(cs.signature, flipped, { user })).kind).toBe('rejected');
    expect(await verifyDeviceList(cs.signature, signed, { user: parseUserId('bob@localhost') })).toEqual({ kind: 'rejected', reason: 'wrong-user' });
    const other = await cs.signature.keygen();
    expect(await verifyDeviceList(cs.signature, signed, { user, pinned: { accountKey: other.publicKey, version: 1 } })).toEqual({
      kind: 'rejected',
      reason: 'account-key-changed',
    });
    expect(await verifyDeviceList(cs.signature, signed, { user, pinned: { accountKey: account.publicKey, version: 6 } })).toEqual({
      kind: 'rejected',
      reason: 'rollback',
    });
  });

  it('refuses malformed bodies with a clear error', async () => {
    expect(() => decodeDeviceList(encodeCbor(['sealpost-device-list-v1', 'alice@localhost', 1, new Uint8Array(31), []]))).toThrow(/deviceList/);
    expect(() => decodeDeviceList(new Uint8Array(20_000))).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
  });
});
