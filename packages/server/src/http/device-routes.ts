// A user's own devices: linking a new device (request by code, approval by an existing device), listing, revoking,
// and the wiped device's confirmation. The server only relays: every device list is signed by the account key on
// a user's device, and the bundle carrying the account key is sealed to the new device.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  SealpostError,
  bytesEqual,
  decodeOrgCommand,
  limits,
  newLinkCode,
  parseLinkCode,
  parseUnknown,
  signedDeviceListFromJson,
  signedDeviceListToJson,
  toBase64Url,
  verifyDeviceList,
  verifyWipeReceipt,
  zDeviceId,
  zDeviceRevoke,
  zDeviceListUpdate,
  zLinkApprove,
  zLinkRequest,
  zWipeConfirm,
  type DeviceList,
  type UserId,
} from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { sha256 } from '../auth/tokens.js';
import { getPolicy } from '../admin/policy-store.js';
import { revokeDevices } from '../admin/revoke.js';
import { sessionOf, withDeviceSession } from '../auth/device-session.js';
import { checkKeyPackages } from '../directory/key-packages.js';
import { addressLimit } from './address-limit.js';
import { b64 } from './fields.js';

/** A link request lives this long; the new device polls until then. */
export const LINK_TTL_MS = 10 * 60_000;
/** Unexpired link requests one user may have (they are unauthenticated, so bounded per user). */
const MAX_PENDING_LINKS = 10;
const zCodeParams = z.object({ code: z.string().min(10).max(20) }).strict();

const hashLinkCode = (code: string) => sha256(`sealpost-link\0${code}`);


function codeOf(params: unknown): string {
  const code = parseLinkCode(parseUnknown(zCodeParams, params, 'params').code);
  if (!code) throw new SealpostError('LINK_CODE_INVALID', 'not a link code (like ABCDE-12345)');
  return code;
}

/** The new list must be the current one (same account key, next version) plus or minus exactly these devices. */
async function checkNextList(ctx: ServerContext, user: UserId, signed: { body: Uint8Array; signature: Uint8Array }, change: (current: DeviceList) => string[]) {
  const stored = await ctx.store.getDeviceList(user);
  if (!stored) throw new SealpostError('USER_NOT_FOUND', `no enrolled user ${user}`);
  const current = await verifyDeviceList(ctx.cs.signature, { body: stored.body, signature: stored.signature }, { user });
  if (current.kind !== 'ok') throw new SealpostError('INTERNAL', `stored device list of ${user} does not verify`);
  const next = await verifyDeviceList(ctx.cs.signature, signed, { user, pinned: { accountKey: stored.accountKey, version: stored.version } });
  if (next.kind !== 'ok') throw new SealpostError('DEVICE_LIST_INVALID', `deviceList: ${next.reason}`);
  if (next.list.version !== stored.version + 1) throw new SealpostError('DEVICE_LIST_INVALID', `deviceList: version must be ${stored.version + 1}`);
  const expected = change(current.list).sort();
  const got = next.list.devices.map((d) => d.id).sort();
  if (expected.join(',') !== got.join(',')) throw new SealpostError('DEVICE_LIST_INVALID', 'deviceList: must be the current list with exactly this change');
  for (const d of current.list.devices) {
    const again = next.list.devices.find((n) => n.id === d.id);
    if (again && !bytesEqual(again.signatureKey, d.signatureKey)) throw new SealpostError('DEVICE_LIST_INVALID', `deviceList: key of ${d.id} changed`);
  }
  return { next: next.list, stored: { version: next.list.version, accountKey: next.list.accountKey, body: signed.body, signature: signed.signature } };
}

export function registerDeviceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const json = { bodyLimit: limits.maxJsonBodyBytes };

  // ---- linking -----------------------------------------------------------------------------------------------
  app.post('/v1/link', { bodyLimit: limits.maxKeyPackageBodyBytes, onRequest: addressLimit(ctx) }, async (req) => {
    const body = parseUnknown(zLinkRequest, req.body, 'body');
    const user = await ctx.store.getUser(body.user);
    // Unauthenticated: one answer for an unknown, a disabled and a not yet enrolled user (and a taken device id),
    // so this cannot sort addresses into those kinds.
    const enrolled = user?.status === 'active' && (await ctx.store.getDeviceList(body.user)) !== undefined;
    if (!enrolled || (await ctx.store.getDevice(body.device))) {
      throw new SealpostError('USER_NOT_FOUND', `${body.user} cannot link a device (no such active, enrolled user, or the device id is taken)`);
    }
    const signatureKey = b64(body.signatureKey, 'signatureKey');
    const hpkeKey = b64(body.hpkeKey, 'hpkeKey');
    if (signatureKey.length !== 32) throw new SealpostError('INVALID_INPUT', 'signatureKey: must be 32 bytes');
    if (hpkeKey.length !== 32 && hpkeKey.length !== 1216) throw new SealpostError('INVALID_INPUT', 'hpkeKey: must be an X25519 (32 bytes) or X-Wing (1216 bytes) public key');
    const keyPackages = await checkKeyPackages(ctx, body.user, body.device, signatureKey, body.keyPackages);
    const [lastResort] = await checkKeyPackages(ctx, body.user, body.device, signatureKey, [body.lastResortKeyPackage]);
    const code = newLinkCode();
    const now = ctx.clock.now();
    const ok = await ctx.store.createLink(
      { codeHash: hashLinkCode(code), user: body.user, device: body.device, name: body.deviceName, signatureKey, hpkeKey, keyPackages, lastResort: lastResort!, createdAt: now, expiresAt: now + LINK_TTL_MS, sealed: undefined },
      MAX_PENDING_LINKS,
    );
    if (!ok) throw new SealpostError('RATE_LIMITED', `${body.user} has ${MAX_PENDING_LINKS} pending link requests; wait for them to expire`);
    return { code, expiresAt: new Date(now + LINK_TTL_MS).toISOString() };
  });

  /** The new device polls this until approved. Only the sealed bundle is returned, and only to the same device id. */
  app.get('/v1/link/:code/status', async (req) => {
    const code = codeOf(req.params);
    const { device } = parseUnknown(z.object({ device: zDeviceId }).strict(), req.query, 'query');
    const link = await ctx.store.getLink(hashLinkCode(code));
    if (!link || link.device !== device) throw new SealpostError('LINK_CODE_INVALID', 'no such link request');
    if (link.sealed) return { status: 'approved', sealed: toBase64Url(link.sealed) };
    if (link.expiresAt <= ctx.clock.now()) throw new SealpostError('LINK_EXPIRED', 'the link request expired; start again');
    return { status: 'pending', expiresAt: new Date(link.expiresAt).toISOString() };
  });

  const pendingLinkFor = async (code: string, user: UserId) => {
    const link = await ctx.store.getLink(hashLinkCode(code));
    // Another user's code is "not found", so codes cannot be probed across accounts.
    if (!link || link.user !== user || link.sealed) throw new SealpostError('LINK_CODE_INVALID', 'no pending link request with this code for your account');
    if (link.expiresAt <= ctx.clock.now()) throw new SealpostError('LINK_EXPIRED', 'the link request expired; ask the new device to start again');
    return link;
  };

  withDeviceSession(app, ctx, (app) => {
    app.get('/v1/link/:code', async (req) => {
      const me = sessionOf(req);
      const link = await pendingLinkFor(codeOf(req.params), me.user);
      return {
        device: link.device,
        deviceName: link.name ?? null,
        signatureKey: toBase64Url(link.signatureKey),
        hpkeKey: toBase64Url(link.hpkeKey),
        createdAt: new Date(link.createdAt).toISOString(),
      };
    });

    app.post('/v1/link/:code/approve', { bodyLimit: 12 * 1024 * 1024 }, async (req) => {
      const me = sessionOf(req);
      const code = codeOf(req.params);
      const body = parseUnknown(zLinkApprove, req.body, 'body');
      const link = await pendingLinkFor(code, me.user);
      const signed = signedDeviceListFromJson(body.deviceList);
      const { next, stored } = await checkNextList(ctx, me.user, signed, (cur) => [...cur.devices.map((d) => d.id), link.device]);
      const entry = next.devices.find((d) => d.id === link.device)!;
      if (!bytesEqual(entry.signatureKey, link.signatureKey)) throw new SealpostError('DEVICE_LIST_INVALID', 'deviceList: the new device has another key than it asked with');
      const enc = b64(body.sealedEnc, 'sealedEnc');
      if (enc.length !== (link.hpkeKey.length === 32 ? 32 : 1120)) throw new SealpostError('INVALID_INPUT', 'sealedEnc: not an encapsulation to the new device\'s link key');
      const ct = b64(body.sealed, 'sealed');
      const sealed = new Uint8Array(enc.length + ct.length);
      sealed.set(enc);
      sealed.set(ct, enc.length);
      const policy = await getPolicy(ctx);
      const verdict = await ctx.store.approveLink({ codeHash: hashLinkCode(code), deviceList: stored, sealed, maxDevices: policy.maxDevicesPerUser, now: ctx.clock.now() });
      switch (verdict) {
        case 'ok':
          req.log.info({ user: me.user, device: link.device, by: me.device }, 'device linked');
          return { user: me.user, device: link.device, version: next.version };
        case 'not-found':
          throw new SealpostError('LINK_CODE_INVALID', 'no pending link request with this code');
        case 'expired':
          throw new SealpostError('LINK_EXPIRED', 'the link request expired');
        case 'too-many-devices':
          throw new SealpostError('TOO_MANY_DEVICES', `policy allows at most ${policy.maxDevicesPerUser} devices per user; revoke one first`);
        case 'list-changed':
          throw new SealpostError('EPOCH_CONFLICT', 'the device list changed meanwhile; approve again');
        case 'device-exists':
          throw new SealpostError('DEVICE_EXISTS', 'device id already registered');
      }
    });

    // ---- own devices -------------------------------------------------------------------------------------------
    app.get('/v1/devices', async (req) => {
      const me = sessionOf(req);
      const list = await ctx.store.getDeviceList(me.user);
      const devices = await ctx.store.listDevices(me.user);
      return {
        deviceList: list ? signedDeviceListToJson(list) : null,
        devices: devices.map((d) => ({
          id: d.id,
          name: d.name ?? null,
          createdAt: new Date(d.createdAt).toISOString(),
          lastSeenAt: d.lastSeenAt === undefined ? null : new Date(d.lastSeenAt).toISOString(),
          revokedAt: d.revokedAt === undefined ? null : new Date(d.revokedAt).toISOString(),
        })),
      };
    });

    /** The user revokes one of their devices with a new account-signed list that leaves it out. */
    app.post('/v1/devices/revoke', json, async (req) => {
      const me = sessionOf(req);
      const body = parseUnknown(zDeviceRevoke, req.body, 'body');
      const target = await ctx.store.getDevice(body.device);
      if (!target || target.user !== me.user) throw new SealpostError('DEVICE_NOT_FOUND', `no device ${body.device} of yours`);
      const { stored } = await checkNextList(ctx, me.user, signedDeviceListFromJson(body.deviceList), (cur) => cur.devices.map((d) => d.id).filter((d) => d !== body.device));
      const res = await revokeDevices(ctx, me.user, target.revokedAt ? [] : [body.device], stored);
      if (res === 'list-changed') throw new SealpostError('EPOCH_CONFLICT', 'the device list changed meanwhile; try again');
      req.log.info({ user: me.user, device: body.device, by: me.device }, 'device revoked by its user');
      return { device: body.device, status: 'revoked', version: stored.version };
    });

    /** The user re-signs the same devices with new account data (mail keys published or replaced). */
    app.post('/v1/devices/list', json, async (req) => {
      const me = sessionOf(req);
      const body = parseUnknown(zDeviceListUpdate, req.body, 'body');
      const { stored } = await checkNextList(ctx, me.user, signedDeviceListFromJson(body.deviceList), (cur) => cur.devices.map((d) => d.id));
      const res = await revokeDevices(ctx, me.user, [], stored);
      if (res === 'list-changed') throw new SealpostError('EPOCH_CONFLICT', 'the device list changed meanwhile; try again');
      req.log.info({ user: me.user, by: me.device }, 'device list re-signed');
      return { version: stored.version };
    });

    // ---- wipe confirmation -------------------------------------------------------------------------------------
  });
  app.post('/v1/wipe/confirm', json, async (req) => {
    const body = parseUnknown(zWipeConfirm, req.body, 'body');
    const wipe = await ctx.store.getWipe(body.device);
    const device = await ctx.store.getDevice(body.device);
    if (!wipe || !device) throw new SealpostError('DEVICE_NOT_FOUND', 'no wipe pending for this device');
    if (decodeOrgCommand(wipe.command).device !== device.id) throw new SealpostError('INTERNAL', 'stored wipe names another device');
    if (!(await verifyWipeReceipt(ctx.cs.signature, device.signatureKey, wipe.command, b64(body.receipt, 'receipt')))) {
      throw new SealpostError('AUTH_FAILED', 'receipt does not verify with this device key');
    }
    await ctx.store.confirmWipe(device.id, ctx.clock.now());
    await ctx.store.appendAudit({ at: ctx.clock.now(), actor: 'device', action: 'device.wipe-confirmed', target: device.user, details: { device: device.id } });
    req.log.info({ device: device.id }, 'wipe confirmed by the device');
    return { device: device.id, status: 'wiped' };
  });
}
