// A group the organisation's identity provider keeps (SCIM), followed by an MLS conversation when the policy
// scim-group-conversations is on: the server tells the group's members who is in it, in a statement signed by the
// organisation key, and a member's device makes the conversation follow it by an ordinary commit (adds, removes) —
// the server can only ask, never add anyone itself. The conversation's id comes from the group's id, so every member
// device names the same conversation and the server keeps one of it.
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { concatBytes, toBase64Url, utf8 } from '../bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { parseConversationId, parseDeviceId, zUserId, type ConversationId, type DeviceId, type UserId } from '../ids.js';
import { limits } from '../limits.js';
import { signLabelled, verifyLabelled } from '../signing.js';

export interface GroupMembership {
  /** The group's SCIM id. */
  group: string;
  name: string;
  members: UserId[];
  /** Only a newer statement changes what a device follows. */
  version: number;
  issuedAt: number;
}

export interface SignedGroupMembership {
  body: Uint8Array;
  signature: Uint8Array;
}

/** The sender a membership statement comes from in a queue: the organisation, no device of anyone. */
export const ORGANISATION_DEVICE: DeviceId = parseDeviceId('dev_organisation__________');

/** A notice's body fits a u16 length (org-signed.ts encodeSignedNotice). */
const MAX_BYTES = 0xffff;
const zBody = z.tuple([
  z.literal('sealpost-group-membership-v1'),
  z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  z.string().min(1).max(200),
  z.array(zUserId).max(limits.maxConversationUsers),
  z.number().int().min(1),
  z.number().int().min(0),
]);

export function encodeGroupMembership(g: GroupMembership): Uint8Array {
  return encodeCbor(['sealpost-group-membership-v1', g.group, g.name, g.members, g.version, g.issuedAt]);
}

export function decodeGroupMembership(body: Uint8Array): GroupMembership {
  const [, group, name, members, version, issuedAt] = parseUnknown(zBody, decodeCbor(body, MAX_BYTES, 'groupMembership'), 'groupMembership');
  return { group, name, members, version, issuedAt };
}

export async function signGroupMembership(sig: Signature, orgPrivateKey: Uint8Array, g: GroupMembership): Promise<SignedGroupMembership> {
  const body = encodeGroupMembership(g);
  return { body, signature: await signLabelled(sig, orgPrivateKey, 'group-membership', body) };
}

/** The statement, if the pinned organisation key signed it; undefined otherwise. */
export async function verifyGroupMembership(sig: Signature, orgPublicKey: Uint8Array, signed: SignedGroupMembership): Promise<GroupMembership | undefined> {
  let g: GroupMembership;
  try {
    g = decodeGroupMembership(signed.body);
  } catch {
    return undefined;
  }
  return (await verifyLabelled(sig, orgPublicKey, 'group-membership', signed.body, signed.signature)) ? g : undefined;
}

/** The conversation that follows a group: the same id on every device. */
export function groupConversationId(group: string): ConversationId {
  return parseConversationId(`c_${toBase64Url(sha256(concatBytes(utf8('sealpost-scim-group\0'), utf8(group))).subarray(0, 16))}`);
}
