// An objection: the owner of an account, with the account key a change would replace, says that versions of its
// label in the key-transparency log from `fromVersion` on were not made by any of its devices (a key swap, or a
// reset it did not ask for). Clients that pinned that account key then refuse the change and alarm. Signed by the
// old account key, so the server can drop an objection but never forge or alter one.
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { zUserId, type UserId } from '../ids.js';
import { signLabelled, verifyLabelled } from '../signing.js';

export interface Objection {
  label: UserId;
  /** The first version of the label this account did not make. */
  fromVersion: number;
  /** The account key that signs the objection (the one the change would replace). */
  accountKey: Uint8Array;
  issuedAt: number;
}

export interface SignedObjection {
  body: Uint8Array;
  signature: Uint8Array;
}

export const MAX_OBJECTION_BYTES = 512;
const zBody = z.tuple([
  z.literal('sealpost-kt-objection-v1'),
  zUserId,
  z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  z.instanceof(Uint8Array).refine((b) => b.length === 32, 'must be 32 bytes'),
  z.number().int().min(0),
]);

export function encodeObjection(o: Objection): Uint8Array {
  return encodeCbor(['sealpost-kt-objection-v1', o.label, o.fromVersion, o.accountKey, o.issuedAt]);
}

export function decodeObjection(body: Uint8Array): Objection {
  const [, label, fromVersion, accountKey, issuedAt] = parseUnknown(zBody, decodeCbor(body, MAX_OBJECTION_BYTES, 'objection'), 'objection');
  return { label, fromVersion, accountKey: new Uint8Array(accountKey), issuedAt };
}

export async function signObjection(sig: Signature, accountPrivateKey: Uint8Array, o: Objection): Promise<SignedObjection> {
  const body = encodeObjection(o);
  return { body, signature: await signLabelled(sig, accountPrivateKey, 'kt-objection', body) };
}

/** The objection, if it is well formed, about `label`, and signed by the account key it names. */
export async function verifyObjection(sig: Signature, signed: SignedObjection, label: UserId): Promise<Objection | undefined> {
  let o: Objection;
  try {
    o = decodeObjection(signed.body);
  } catch {
    return undefined;
  }
  if (o.label !== label) return undefined;
  return (await verifyLabelled(sig, o.accountKey, 'kt-objection', signed.body, signed.signature)) ? o : undefined;
}
