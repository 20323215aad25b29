// HTTP API bodies (JSON). Each schema is strict: unknown keys are refused. Binary values are base64url strings.
import { z } from 'zod';
import { suiteNames } from './mls/ciphersuite.js';
import { zConversationId, zDeviceId, zUserId } from './ids.js';
import { limits } from './limits.js';
import { zSignedDeviceListJson } from './device-list.js';

const b64 = (maxBytes: number) => z.string().max(Math.ceil((maxBytes * 4) / 3) + 4).regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

export const zAdminUserAdd = z
  .object({ user: z.string().min(1).max(320), name: z.string().min(1).max(200).optional() })
  .strict();
export const zAdminUserAddResult = z.object({ user: zUserId, activationCode: z.string(), expiresAt: z.string() }).strict();

export const zEnrollRequest = z
  .object({
    user: zUserId,
    code: z.string().min(1).max(64),
    device: zDeviceId,
    deviceName: z.string().min(1).max(100).optional(),
    deviceList: zSignedDeviceListJson,
    keyPackages: z.array(b64(limits.maxKeyPackageBytes)).min(1).max(limits.maxKeyPackagesPerUpload),
    lastResortKeyPackage: b64(limits.maxKeyPackageBytes),
  })
  .strict();
export type EnrollRequest = z.output<typeof zEnrollRequest>;

export const zChallengeRequest = z.object({ device: zDeviceId }).strict();
export const zSessionRequest = z
  .object({ device: zDeviceId, challenge: b64(64), signature: b64(64) })
  .strict();

export const zKeyPackageUpload = z
  .object({
    keyPackages: z.array(b64(limits.maxKeyPackageBytes)).max(limits.maxKeyPackagesPerUpload),
    lastResortKeyPackage: b64(limits.maxKeyPackageBytes).optional(),
  })
  .strict();

export const zKeyPackageClaim = z
  .object({
    users: z.array(zUserId).min(1).max(limits.maxUsersPerClaim),
    /** Devices the caller already has in the group (skipped). */
    exclude: z.array(zDeviceId).max(limits.maxDevicesPerCommit).optional(),
    /** The conversation's MLS suite: KeyPackages of it only (classic when not given). */
    suite: z.enum(suiteNames).optional(),
  })
  .strict();

export const zCreateConversation = z.object({ id: zConversationId, suite: z.enum(suiteNames).optional() }).strict();

// ---- devices (device-link.ts) ---------------------------------------------------------------------------------

/** A new device asks to join an account. Unauthenticated: it has no session yet; the code it gets back is the link. */
export const zLinkRequest = z
  .object({
    user: zUserId,
    device: zDeviceId,
    deviceName: z.string().min(1).max(100).optional(),
    signatureKey: b64(32),
    /** X25519 (32 bytes) or X-Wing (1216 bytes, policy pq-hybrid): what the link bundle is sealed to. */
    hpkeKey: b64(1216),
    keyPackages: z.array(b64(limits.maxKeyPackageBytes)).min(1).max(limits.maxKeyPackagesPerUpload),
    lastResortKeyPackage: b64(limits.maxKeyPackageBytes),
  })
  .strict();

/** The approving device: the new signed device list, and the bundle sealed to the new device (HPKE enc ‖ ct). */
export const zLinkApprove = z
  .object({
    deviceList: zSignedDeviceListJson,
    /** The HPKE encapsulation: 32 bytes (X25519) or 1,120 (X-Wing), as the new device's link key says. */
    sealedEnc: b64(1120),
    sealed: b64(8 * 1024 * 1024 + 16),
  })
  .strict();

export const zDeviceRevoke = z.object({ device: zDeviceId, deviceList: zSignedDeviceListJson }).strict();

/** POST /v1/devices/list: the same devices, re-signed with a change that adds no device (the account's mail keys). */
export const zDeviceListUpdate = z.object({ deviceList: zSignedDeviceListJson }).strict();

export const zWipeConfirm = z.object({ device: zDeviceId, receipt: b64(64) }).strict();
