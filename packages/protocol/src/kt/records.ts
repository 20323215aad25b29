// What the key-transparency log commits to, and how: the account record (the value of a label), the commitment
// to a (label, version, value), the VRF input, the epoch leaf of the log tree, and the signed tree head.
// Encodings are ours (the KEYTRANS draft is still moving); docs/key-transparency.md lists them.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import type { Signature } from 'ts-mls';
import { bytesEqual, concatBytes, utf8 } from '../bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { SealpostError } from '../errors.js';
import { signLabelled, verifyLabelled } from '../signing.js';

/** A user's account record: the account key and a hash of the account-signed device list it vouches for. */
export interface AccountRecord {
  /** Empty when the account was retired (an admin reset) and no new device has enrolled yet. */
  accountKey: Uint8Array;
  deviceListVersion: number;
  deviceListHash: Uint8Array;
  /**
   * The organisation-signed legal hold on this user (legalHoldHash), while one is published — its release included,
   * so the end of a hold is in the log too. Absent for a user never held: such records keep their bytes.
   */
  holdHash?: Uint8Array;
}

export const deviceListHash = (body: Uint8Array): Uint8Array => sha256(concatBytes(utf8('Sealpost v1 device-list-hash\0'), body));

export function encodeAccountRecord(r: AccountRecord): Uint8Array {
  const base = ['sealpost-account-record-v1', r.accountKey, r.deviceListVersion, r.deviceListHash];
  return encodeCbor(r.holdHash ? [...base, r.holdHash] : base);
}

const zBase = [
  z.literal('sealpost-account-record-v1'),
  z.instanceof(Uint8Array).refine((b) => b.length === 0 || b.length === 32),
  z.number().int().min(0),
  z.instanceof(Uint8Array).refine((b) => b.length === 32 || b.length === 0),
] as const;
const zRecord = z.union([z.tuple(zBase), z.tuple([...zBase, z.instanceof(Uint8Array).refine((b) => b.length === 32)])]);

export function decodeAccountRecord(b: Uint8Array): AccountRecord {
  const [, accountKey, deviceListVersion, hash, holdHash] = parseUnknown(zRecord, decodeCbor(b, 1024, 'accountRecord'), 'accountRecord') as [string, Uint8Array, number, Uint8Array, Uint8Array?];
  return { accountKey: new Uint8Array(accountKey), deviceListVersion, deviceListHash: new Uint8Array(hash), ...(holdHash ? { holdHash: new Uint8Array(holdHash) } : {}) };
}

export const retiredRecord = (): AccountRecord => ({ accountKey: new Uint8Array(0), deviceListVersion: 0, deviceListHash: new Uint8Array(0) });

// KEYTRANS §"Commitment": a fixed HMAC key, so the commitment hides the value until the opening is shown.
const COMMITMENT_KEY = sha256(utf8('Sealpost v1 kt-commitment-key'));

export function commitment(opening: Uint8Array, label: string, version: number, value: Uint8Array): Uint8Array {
  if (opening.length !== 16) throw new SealpostError('INVALID_INPUT', 'kt: opening must be 16 bytes');
  return hmac(sha256, COMMITMENT_KEY, concatBytes(opening, encodeCbor([label, version, value])));
}

/** The VRF input for version `version` of `label`; the first 32 bytes of the VRF output are its prefix-tree index. */
export const vrfInput = (label: string, version: number): Uint8Array => encodeCbor(['sealpost-kt-vrf-v1', label, version]);

/** One leaf of the log tree per epoch. */
export interface EpochLeaf {
  epoch: number;
  timestamp: number;
  prefixRoot: Uint8Array;
}

export const encodeEpochLeaf = (e: EpochLeaf): Uint8Array => encodeCbor(['sealpost-kt-epoch-v1', e.epoch, e.timestamp, e.prefixRoot]);

/** The signed tree head: the log tree's size (epochs so far) and root. */
export interface TreeHead {
  size: number;
  root: Uint8Array;
  timestamp: number;
  signature: Uint8Array;
}

const headBody = (h: Omit<TreeHead, 'signature'>) => encodeCbor(['sealpost-kt-head-v1', h.size, h.root, h.timestamp]);

export async function signTreeHead(sig: Signature, key: Uint8Array, h: Omit<TreeHead, 'signature'>): Promise<TreeHead> {
  return { ...h, signature: await signLabelled(sig, key, 'kt-tree-head', headBody(h)) };
}

export function verifyTreeHead(sig: Signature, key: Uint8Array, h: TreeHead): Promise<boolean> {
  return verifyLabelled(sig, key, 'kt-tree-head', headBody(h), h.signature);
}

/** An auditor's co-signature on a tree head it replayed and found built correctly. */
export function signAuditedHead(sig: Signature, key: Uint8Array, h: Omit<TreeHead, 'signature'>): Promise<Uint8Array> {
  return signLabelled(sig, key, 'kt-auditor-head', headBody(h));
}

export function verifyAuditedHead(sig: Signature, key: Uint8Array, h: Omit<TreeHead, 'signature'>, signature: Uint8Array): Promise<boolean> {
  return verifyLabelled(sig, key, 'kt-auditor-head', headBody(h), signature);
}

export const sameHead = (a: Pick<TreeHead, 'size' | 'root'>, b: Pick<TreeHead, 'size' | 'root'>): boolean => a.size === b.size && bytesEqual(a.root, b.root);
