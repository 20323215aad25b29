// Revoking devices: the store takes them out of sessions, queues and member lists; every remaining member of
// their conversations gets an organisation-signed removal notice, and the first member to process it commits the
// MLS Remove (docs/devices-and-admin.md explains why a notice rather than an MLS external proposal). Connections
// the devices still hold, on any node, are closed through the bus.
import { encodeSignedNotice, newMessageId, signOrgCommand, type DeviceId, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { Delivery, Revocation, StoredDeviceList } from '../store/store.js';

export async function revocationsFor(ctx: ServerContext, user: UserId, devices: DeviceId[]): Promise<Revocation[]> {
  const issuedAt = ctx.clock.now();
  const out: Revocation[] = [];
  for (const device of devices) {
    const signed = await signOrgCommand(ctx.cs.signature, ctx.org.privateKey, { kind: 'remove-device', device, user, issuedAt });
    out.push({ device, notice: encodeSignedNotice(signed), noticeId: newMessageId() });
  }
  return out;
}

/** The removal notices go to the remaining members; the revoked devices' connections close, on every node. */
export function publishRevocation(ctx: ServerContext, devices: DeviceId[], deliveries: Delivery): void {
  ctx.bus.publish(deliveries);
  ctx.bus.disconnect(devices);
}

export async function revokeDevices(ctx: ServerContext, user: UserId, devices: DeviceId[], deviceList?: StoredDeviceList): Promise<'ok' | 'list-changed'> {
  const revocations = await revocationsFor(ctx, user, devices);
  const res = await ctx.store.revokeDevices(user, revocations, ctx.clock.now(), deviceList);
  if (res === 'list-changed') return res;
  publishRevocation(ctx, devices, res);
  return 'ok';
}

/**
 * Leaves each device an organisation-signed wipe command (delivered when it next connects: it erases its keys and
 * data and confirms) and revokes the ones still active.
 */
export async function wipeDevices(ctx: ServerContext, user: UserId, devices: { id: DeviceId; revokedAt?: number | undefined }[]): Promise<void> {
  const issuedAt = ctx.clock.now();
  for (const d of devices) {
    const signed = await signOrgCommand(ctx.cs.signature, ctx.org.privateKey, { kind: 'wipe', device: d.id, user, issuedAt });
    await ctx.store.putWipe({ device: d.id, command: signed.body, signature: signed.signature, issuedAt, confirmedAt: undefined });
  }
  const active = devices.filter((d) => !d.revokedAt).map((d) => d.id);
  if (active.length > 0) await revokeDevices(ctx, user, active);
}
