// Which devices this client trusts: a device is trusted only if it is in its user's device list signed by the
// user's account key. Account keys are pinned on first use; a later list signed by another key is refused.
// (Key transparency will make the first use verifiable too.)
import {
  SealpostError,
  bytesEqual,
  signedDeviceListFromJson,
  verifyDeviceList,
  type DeviceId,
  type DeviceList,
  type DeviceIdentity,
  type UserId,
} from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { HttpApi } from './http-api.js';
import type { ProfileStore } from './profile-store.node.js';

export class DeviceTrust {
  private readonly cache = new Map<UserId, DeviceList>();

  constructor(
    private readonly cs: CiphersuiteImpl,
    private readonly api: HttpApi,
    private readonly store: ProfileStore,
  ) {}

  /** The verified device list of `user`, fetched once per session unless `refresh`. */
  async deviceList(user: UserId, refresh = false): Promise<DeviceList> {
    const cached = this.cache.get(user);
    if (cached && !refresh) return cached;
    const res = await this.api.request<{ deviceList: { body: string; signature: string } }>('GET', `/v1/users/${encodeURIComponent(user)}/devices`);
    const pinned = this.store.getKnownUser(user);
    const verdict = await verifyDeviceList(this.cs.signature, signedDeviceListFromJson(res.deviceList), { user, ...(pinned ? { pinned } : {}) });
    if (verdict.kind !== 'ok') {
      if (verdict.reason === 'account-key-changed') {
        throw new SealpostError('ACCOUNT_KEY_CHANGED', `the account key of ${user} has changed since this device first saw it; refusing to trust its devices`);
      }
      throw new SealpostError('DEVICE_LIST_INVALID', `device list of ${user} refused: ${verdict.reason}`);
    }
    this.store.putKnownUser(user, verdict.list.accountKey, verdict.list.version, Date.now());
    this.cache.set(user, verdict.list);
    return verdict.list;
  }

  /** The MLS authentication check: is this leaf's key in the user's account-signed device list? */
  async isTrusted(identity: DeviceIdentity, signatureKey: Uint8Array): Promise<boolean> {
    const has = (list: DeviceList) => list.devices.some((d) => d.id === identity.device && bytesEqual(d.signatureKey, signatureKey));
    try {
      if (has(await this.deviceList(identity.user))) return true;
      // The list may have changed since we cached it (a device was just added): look once more.
      return has(await this.deviceList(identity.user, true));
    } catch (err) {
      // A list that fails verification means "not trusted"; a network failure is not an answer and propagates,
      // so the message is retried later instead of being dropped as untrusted.
      if (err instanceof SealpostError && ['DEVICE_LIST_INVALID', 'ACCOUNT_KEY_CHANGED', 'USER_NOT_FOUND'].includes(err.code)) return false;
      throw err;
    }
  }

  async devicesOf(user: UserId): Promise<DeviceId[]> {
    return (await this.deviceList(user)).devices.map((d) => d.id);
  }
}
