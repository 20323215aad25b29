// The account-signed device list: the only thing that makes a device trusted by other clients (design.md, Identity).
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { bytesEqual, fromBase64Url, toBase64Url } from './bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from './codec.js';
import { SealpostError } from './errors.js';
import { zDeviceId, zUserId, type DeviceId, type UserId } from './ids.js';
import { limits } from './limits.js';
import { signLabelled, verifyLabelled } from './signing.js';

export interface DeviceEntry {
  id: DeviceId;
  /** The device's MLS signature key (Ed25519, raw 32 bytes). */
  signatureKey: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  addedAt: number;
}

export interface DeviceList {
  user: UserId;
  /** Increases by one with every change; a client never accepts a lower version than it has seen. */
  version: number;
  /** The account key (Ed25519) that signs this list. */
  accountKey: Uint8Array;
  devices: DeviceEntry[];
  /**
   * The account's mail keys (design.md, Outside mail): the HPKE public key the SMTP gateway seals inbound mail to,
   * and the OpenPGP public key (binary, v4) outside people encrypt to. Both made on a device; absent on lists
   * signed before a device published them. Being in the signed list puts them in the key-transparency log.
   */
  mail?: MailKeys;
}

export interface MailKeys {
  /**
   * The HPKE public key (RFC 9180) of one of the MLS suites' HPKE (docs/post-quantum.md): X-Wing (1,216 bytes,
   * HKDF-SHA512, AES-256-GCM) when made under policy pq-hybrid, X25519 (32 bytes, HKDF-SHA256, AES-128-GCM) otherwise.
   */
  intakeKey: Uint8Array;
  /** The OpenPGP transferable public key, binary (RFC 4880 v4 packets). */
  openpgp: Uint8Array;
}

/** An OpenPGP public key with one user id and an encryption subkey is well under 1 KiB; this leaves room. */
export const MAX_OPENPGP_KEY_BYTES = 8 * 1024;

/** On the wire: the exact signed bytes and the signature, both base64url in JSON. */
export interface SignedDeviceList {
  body: Uint8Array;
  signature: Uint8Array;
}

const key32 = z.instanceof(Uint8Array).refine((b) => b.length === 32, 'must be 32 bytes');
const baseFields = [
  z.literal('sealpost-device-list-v1'),
  zUserId,
  z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  key32,
  z
    .array(z.tuple([zDeviceId, key32, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]))
    .min(1)
    .max(limits.maxDevicesPerUser),
] as const;
/** An intake key: X25519 (32 bytes) or X-Wing (1,216 bytes). */
export const INTAKE_KEY_BYTES = { classic: 32, 'pq-hybrid': 1216 } as const;
const zIntakeKey = z.instanceof(Uint8Array).refine((b) => b.length === INTAKE_KEY_BYTES.classic || b.length === INTAKE_KEY_BYTES['pq-hybrid'], 'must be an X25519 (32 bytes) or X-Wing (1,216 bytes) key');
const zMailKeys = z.tuple([zIntakeKey, z.instanceof(Uint8Array).refine((b) => b.length > 0 && b.length <= MAX_OPENPGP_KEY_BYTES, `1 to ${MAX_OPENPGP_KEY_BYTES} bytes`)]);
// A list without mail keys keeps the five-element shape it always had, so its bytes (and hash) do not change.
const bodySchema = z.union([z.tuple([...baseFields]), z.tuple([...baseFields, zMailKeys])]);

export function encodeDeviceList(list: DeviceList): Uint8Array {
  return encodeCbor([
    'sealpost-device-list-v1',
    list.user,
    list.version,
    list.accountKey,
    list.devices.map((d) => [d.id, d.signatureKey, d.addedAt]),
    ...(list.mail ? [[list.mail.intakeKey, list.mail.openpgp]] : []),
  ]);
}

export function decodeDeviceList(body: Uint8Array): DeviceList {
  const raw = decodeCbor(body, limits.maxDeviceListBytes, 'deviceList');
  const [, user, version, accountKey, devices, mail] = parseUnknown(bodySchema, raw, 'deviceList');
  const ids = new Set(devices.map((d) => d[0]));
  if (ids.size !== devices.length) throw new SealpostError('DEVICE_LIST_INVALID', 'deviceList: duplicate device id');
  return {
    user,
    version,
    accountKey: new Uint8Array(accountKey),
    devices: devices.map(([id, signatureKey, addedAt]) => ({ id, signatureKey: new Uint8Array(signatureKey), addedAt })),
    ...(mail ? { mail: { intakeKey: new Uint8Array(mail[0]), openpgp: new Uint8Array(mail[1]) } } : {}),
  };
}

export async function signDeviceList(sig: Signature, accountPrivateKey: Uint8Array, list: DeviceList): Promise<SignedDeviceList> {
  const body = encodeDeviceList(list);
  return { body, signature: await signLabelled(sig, accountPrivateKey, 'device-list', body) };
}

export type DeviceListVerdict =
  | { kind: 'ok'; list: DeviceList }
  | { kind: 'rejected'; reason: 'malformed' | 'bad-signature' | 'wrong-user' | 'account-key-changed' | 'rollback' };

/**
 * Verify a signed device list: well-formed, signed by the account key it names, for the expected user, and — when
 * the caller pinned an earlier list — signed by the same account key and not older than it.
 */
export async function verifyDeviceList(
  sig: Signature,
  signed: SignedDeviceList,
  expect: { user: UserId; pinned?: { accountKey: Uint8Array; version: number } },
): Promise<DeviceListVerdict> {
  let list: DeviceList;
  try {
    list = decodeDeviceList(signed.body);
  } catch {
    return { kind: 'rejected', reason: 'malformed' };
  }
  if (list.user !== expect.user) return { kind: 'rejected', reason: 'wrong-user' };
  if (!(await verifyLabelled(sig, list.accountKey, 'device-list', signed.body, signed.signature))) {
    return { kind: 'rejected', reason: 'bad-signature' };
  }
  if (expect.pinned) {
    if (!bytesEqual(expect.pinned.accountKey, list.accountKey)) return { kind: 'rejected', reason: 'account-key-changed' };
    if (list.version < expect.pinned.version) return { kind: 'rejected', reason: 'rollback' };
  }
  return { kind: 'ok', list };
}

export const zSignedDeviceListJson = z
  .object({ body: z.string().max(limits.maxDeviceListBytes * 2), signature: z.string().max(128) })
  .strict();

export function signedDeviceListToJson(s: SignedDeviceList): z.input<typeof zSignedDeviceListJson> {
  return { body: toBase64Url(s.body), signature: toBase64Url(s.signature) };
}

export function signedDeviceListFromJson(j: z.output<typeof zSignedDeviceListJson>): SignedDeviceList {
  const body = fromBase64Url(j.body);
  const signature = fromBase64Url(j.signature);
  if (!body || !signature) throw new SealpostError('INVALID_INPUT', 'deviceList: not base64url');
  return { body, signature };
}
