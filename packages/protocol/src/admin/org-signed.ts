// Commands signed by the organisation key (design.md, Admin): a remote wipe for one device, and the notice that
// asks the members of a conversation to remove a revoked device. Clients pin the organisation's public key when
// they enroll and act on nothing this key did not sign. Each command names its device, so a command captured for
// one device is worthless for another.
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { SealpostError } from '../errors.js';
import { zDeviceId, zUserId, type DeviceId, type UserId } from '../ids.js';
import { signLabelled, verifyLabelled, type SigningLabel } from '../signing.js';

export interface OrgCommand {
  /**
   * 'wipe': erase this device. 'remove-device': this device was revoked (to the members of its conversations, and
   * to the device itself when it signs in). 'disable-user': this device's user is disabled (to the device when it
   * signs in). A device that the server refuses without one of these treats the refusal as an alarm.
   */
  kind: 'wipe' | 'remove-device' | 'disable-user';
  device: DeviceId;
  user: UserId;
  /** Milliseconds since the Unix epoch. */
  issuedAt: number;
}

export interface SignedOrgCommand {
  body: Uint8Array;
  signature: Uint8Array;
}

const MAX_COMMAND_BYTES = 1024;
const zBody = z.tuple([z.literal('sealpost-org-command-v1'), z.enum(['wipe', 'remove-device', 'disable-user']), zDeviceId, zUserId, z.number().int().min(0)]);
const label = (kind: OrgCommand['kind']): SigningLabel => (kind === 'wipe' ? 'wipe-command' : kind === 'remove-device' ? 'removal-notice' : 'refusal-notice');

export function encodeOrgCommand(c: OrgCommand): Uint8Array {
  return encodeCbor(['sealpost-org-command-v1', c.kind, c.device, c.user, c.issuedAt]);
}

export function decodeOrgCommand(body: Uint8Array): OrgCommand {
  const [, kind, device, user, issuedAt] = parseUnknown(zBody, decodeCbor(body, MAX_COMMAND_BYTES, 'orgCommand'), 'orgCommand');
  return { kind, device, user, issuedAt };
}

export async function signOrgCommand(sig: Signature, orgPrivateKey: Uint8Array, c: OrgCommand): Promise<SignedOrgCommand> {
  const body = encodeOrgCommand(c);
  return { body, signature: await signLabelled(sig, orgPrivateKey, label(c.kind), body) };
}

export type OrgCommandVerdict = { kind: 'ok'; command: OrgCommand } | { kind: 'rejected'; reason: 'malformed' | 'bad-signature' | 'wrong-kind' | 'wrong-device' };

/** Accepts a command only if the pinned organisation key signed it, it is of the expected kind and (if given) names `device`. */
export async function verifyOrgCommand(
  sig: Signature,
  orgPublicKey: Uint8Array,
  signed: SignedOrgCommand,
  expect: { kind: OrgCommand['kind']; device?: DeviceId },
): Promise<OrgCommandVerdict> {
  let c: OrgCommand;
  try {
    c = decodeOrgCommand(signed.body);
  } catch {
    return { kind: 'rejected', reason: 'malformed' };
  }
  if (c.kind !== expect.kind) return { kind: 'rejected', reason: 'wrong-kind' };
  if (!(await verifyLabelled(sig, orgPublicKey, label(c.kind), signed.body, signed.signature))) return { kind: 'rejected', reason: 'bad-signature' };
  if (expect.device && c.device !== expect.device) return { kind: 'rejected', reason: 'wrong-device' };
  return { kind: 'ok', command: c };
}

/** The wiped device's confirmation: its device key signs the command it carried out. */
export function signWipeReceipt(sig: Signature, devicePrivateKey: Uint8Array, command: Uint8Array): Promise<Uint8Array> {
  return signLabelled(sig, devicePrivateKey, 'wipe-receipt', command);
}

export function verifyWipeReceipt(sig: Signature, devicePublicKey: Uint8Array, command: Uint8Array, receipt: Uint8Array): Promise<boolean> {
  return verifyLabelled(sig, devicePublicKey, 'wipe-receipt', command, receipt);
}

/**
 * An organisation-signed statement in a queue item (a removal notice, a group's membership): u16 body length ‖ body ‖
 * the 64-byte signature. Written by the server, split by the devices.
 */
export function encodeSignedNotice(s: { body: Uint8Array; signature: Uint8Array }): Uint8Array {
  if (s.body.length > 0xffff) throw new SealpostError('PAYLOAD_TOO_LARGE', `an organisation notice is at most ${0xffff} bytes (this one: ${s.body.length})`);
  const out = new Uint8Array(2 + s.body.length + s.signature.length);
  new DataView(out.buffer).setUint16(0, s.body.length);
  out.set(s.body, 2);
  out.set(s.signature, 2 + s.body.length);
  return out;
}

export function decodeSignedNotice(p: Uint8Array): { body: Uint8Array; signature: Uint8Array } | undefined {
  if (p.length < 2 + 64) return undefined;
  const n = (p[0]! << 8) | p[1]!;
  if (2 + n + 64 !== p.length) return undefined;
  return { body: p.subarray(2, 2 + n), signature: p.subarray(2 + n) };
}
