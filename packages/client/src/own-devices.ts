// This account's own device list, signed by the account key this device holds.
import {
  SealpostError,
  limits,
  signDeviceList,
  verifyDeviceList,
  signedDeviceListFromJson,
  type DeviceList,
  signedDeviceListToJson,
  type DeviceId,
} from '@sealpost/protocol';
import { ClientPart } from './core/client-core.js';

/** This account's own signed device list: read and verified, and re-signed without devices the server revoked. */
export class OwnDevices extends ClientPart {
  /** This account's current signed device list, verified with the account key this device holds. */
  async ownSignedList(): Promise<{ list: DeviceList; records: { id: DeviceId; name: string | null; createdAt: string; lastSeenAt: string | null; revokedAt: string | null }[] }> {
    const res = await this.api.request<{
      deviceList: { body: string; signature: string } | null;
      devices: { id: DeviceId; name: string | null; createdAt: string; lastSeenAt: string | null; revokedAt: string | null }[];
    }>('GET', '/v1/devices');
    const accountKey = this.store.getMeta('account_public');
    if (!res.deviceList || !accountKey) throw new SealpostError('DEVICE_LIST_INVALID', 'the server holds no device list for this account');
    const known = this.store.getKnownUser(this.user);
    const v = await verifyDeviceList(this.engine.cs.signature, signedDeviceListFromJson(res.deviceList), {
      user: this.user,
      pinned: { accountKey, version: known?.version ?? 1 },
    });
    if (v.kind !== 'ok') throw new SealpostError('DEVICE_LIST_INVALID', `your own device list does not verify: ${v.reason}`);
    this.store.putKnownUser(this.user, accountKey, v.list.version, Date.now());
    return { list: v.list, records: res.devices };
  }

  /** Re-sign this account's device list without devices the server has revoked. */
  async tidyOwnList(): Promise<void> {
    const accountPrivate = this.store.getMeta('account_private');
    if (!accountPrivate) return;
    for (let round = 0; round < limits.maxDevicesPerUser; round++) {
      const { list, records } = await this.ownSignedList();
      const gone = records.find((r) => r.revokedAt && list.devices.some((d) => d.id === r.id));
      if (!gone) break;
      const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, { ...list, version: list.version + 1, devices: list.devices.filter((d) => d.id !== gone.id) });
      await this.api.request('POST', '/v1/devices/revoke', { device: gone.id, deviceList: signedDeviceListToJson(signed) });
    }
    this.trust.forget(this.user);
    this.store.setMeta('own_list_dirty', '0');
  }
}
