// HPKE (RFC 9180), base mode, for one suite: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM (0x0020,
// 0x0001, 0x0001) — the HPKE of MLS ciphersuite 0x0001. Composed over node:crypto's HMAC and AES-GCM and X25519
// from x25519.node.ts (libsodium or node:crypto); checked against the MLS interop vectors and differentially against
// @hpke/core (hpke.node.test.ts).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { HASH_LEN, hkdfExpand, hkdfExtract } from './hkdf.node.js';
import { x25519 } from './x25519.node.js';

const te = new TextEncoder();
const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0001;
export const HPKE_NK = 16; // AES-128-GCM key
export const HPKE_NN = 12; // nonce
const NSECRET = 32;
const NSK = 32;

const i2osp2 = (n: number) => new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

const SHA256: HpkeKdf = { hashLen: HASH_LEN, extract: hkdfExtract, expand: hkdfExpand };
const KEM_SUITE = concat(te.encode('KEM'), i2osp2(KEM_ID));
const V1 = te.encode('HPKE-v1');

// RFC 9180 §4: LabeledExtract / LabeledExpand.
function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array, kdf: HpkeKdf = SHA256): Uint8Array {
  return kdf.extract(salt, concat(V1, suite, te.encode(label), ikm));
}
function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number, kdf: HpkeKdf = SHA256): Uint8Array {
  return kdf.expand(prk, concat(i2osp2(length), V1, suite, te.encode(label), info), length);
}

/** An X25519 key as HPKE uses it; opaque to ts-mls, which only hands it back to this module. */
export interface HpkeKey {
  readonly type: 'private' | 'public';
  /** Raw public key (32 bytes). */
  readonly pub: Uint8Array;
  /** Raw private key (32 bytes); private keys only. */
  readonly sk?: Uint8Array;
}

export function importPrivate(raw: Uint8Array): HpkeKey {
  if (raw.length !== NSK) throw new Error(`X25519 private key: expected ${NSK} bytes, got ${raw.length}`);
  const sk = new Uint8Array(raw);
  return { type: 'private', sk, pub: x25519.publicKey(sk) };
}

export function importPublic(raw: Uint8Array): HpkeKey {
  if (raw.length !== 32) throw new Error(`x25519 public key: expected 32 bytes, got ${raw.length}`);
  return { type: 'public', pub: new Uint8Array(raw) };
}

function secretOf(k: HpkeKey): Uint8Array {
  if (!k.sk) throw new Error('X25519: a public key was given where a private key is needed');
  return k.sk;
}

export function exportPrivate(k: HpkeKey): Uint8Array {
  return new Uint8Array(secretOf(k));
}

/**
 * A fresh key pair: 32 bytes from the CSPRNG are an X25519 private key (RFC 7748 §5; X25519 clamps them). Not
 * generateKeyPairSync: in Node 20, exporting a key it made can deadlock the thread when garbage collection runs
 * during the export and frees the key-generation job, which takes the same lock (seen here under load).
 */
export function generate(): { privateKey: HpkeKey; publicKey: HpkeKey } {
  const privateKey = importPrivate(new Uint8Array(randomBytes(NSK)));
  return { privateKey, publicKey: importPublic(privateKey.pub) };
}

/** RFC 9180 §7.1.3: DeriveKeyPair for X25519 (no rejection sampling; the key is clamped by X25519 itself). */
export function deriveKeyPair(ikm: Uint8Array): { privateKey: HpkeKey; publicKey: HpkeKey } {
  const prk = labeledExtract(KEM_SUITE, new Uint8Array(), 'dkp_prk', ikm);
  const sk = labeledExpand(KEM_SUITE, prk, 'sk', new Uint8Array(), NSK);
  const privateKey = importPrivate(sk);
  return { privateKey, publicKey: importPublic(privateKey.pub) };
}

// RFC 9180 §4.1: ExtractAndExpand.
function extractAndExpand(dhOut: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const prk = labeledExtract(KEM_SUITE, new Uint8Array(), 'eae_prk', dhOut);
  return labeledExpand(KEM_SUITE, prk, 'shared_secret', kemContext, NSECRET);
}

function encap(pkR: HpkeKey): { sharedSecret: Uint8Array; enc: Uint8Array } {
  const e = generate();
  const enc = e.publicKey.pub;
  return { sharedSecret: extractAndExpand(x25519.sharedSecret(secretOf(e.privateKey), pkR.pub), concat(enc, pkR.pub)), enc };
}

function decap(enc: Uint8Array, skR: HpkeKey): Uint8Array {
  return extractAndExpand(x25519.sharedSecret(secretOf(skR), enc), concat(enc, skR.pub));
}

export interface Context {
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

/** The KDF of an HPKE suite: HKDF over one hash, as hkdf.node.ts makes it. */
export interface HpkeKdf {
  readonly hashLen: number;
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

/** The key schedule of one HPKE suite (RFC 9180 §5.1), base mode, and its secret export (§5.3). */
export interface HpkeSchedule {
  context(sharedSecret: Uint8Array, info: Uint8Array): Context;
  exportSecret(ctx: Context, exporterContext: Uint8Array, length: number): Uint8Array;
}

/**
 * RFC 9180 §5.1 KeySchedule in mode_base (0x00) with no PSK, for the suite (kemId, kdfId, aeadId) — Nk bytes of
 * key and 12 of nonce (AES-GCM). Shared by the classic suite's HPKE (below) and the pq-hybrid one's (hpke-xwing.node.ts).
 */
export function hpkeSchedule(ids: { kem: number; kdf: number; aead: number }, kdf: HpkeKdf, nk: number): HpkeSchedule {
  const suite = concat(te.encode('HPKE'), i2osp2(ids.kem), i2osp2(ids.kdf), i2osp2(ids.aead));
  const extract = (salt: Uint8Array, label: string, ikm: Uint8Array) => labeledExtract(suite, salt, label, ikm, kdf);
  const expand = (prk: Uint8Array, label: string, info: Uint8Array, length: number) => labeledExpand(suite, prk, label, info, length, kdf);
  const none = new Uint8Array();
  const pskIdHash = extract(none, 'psk_id_hash', none); // no PSK: the same every time
  return {
    context(sharedSecret, info) {
      const ctx = concat(new Uint8Array([0]), pskIdHash, extract(none, 'info_hash', info));
      const secret = extract(sharedSecret, 'secret', none);
      return {
        key: expand(secret, 'key', ctx, nk),
        baseNonce: expand(secret, 'base_nonce', ctx, HPKE_NN),
        exporterSecret: expand(secret, 'exp', ctx, kdf.hashLen),
      };
    },
    exportSecret: (ctx, exporterContext, length) => expand(ctx.exporterSecret, 'sec', exporterContext, length),
  };
}

const schedule = hpkeSchedule({ kem: KEM_ID, kdf: KDF_ID, aead: AEAD_ID }, SHA256, HPKE_NK);

export function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  c.final();
  return concat(body, c.getAuthTag());
}

export function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  if (ciphertext.length < 16) throw new Error('AES-GCM: ciphertext shorter than the tag');
  const d = createDecipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const body = d.update(ciphertext.subarray(0, ciphertext.length - 16));
  d.final(); // throws on a bad tag
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/** Single-shot seal (RFC 9180 §6.1): the first message of the context uses the base nonce as is. */
export function seal(pkR: HpkeKey, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): { enc: Uint8Array; ct: Uint8Array } {
  const { sharedSecret, enc } = encap(pkR);
  const ctx = schedule.context(sharedSecret, info);
  return { enc, ct: aesGcmSeal(ctx.key, ctx.baseNonce, aad, plaintext) };
}

export function open(skR: HpkeKey, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const ctx = schedule.context(decap(enc, skR), info);
  return aesGcmOpen(ctx.key, ctx.baseNonce, aad, ct);
}

/** RFC 9180 §6.2 / §5.3: single-shot secret export. */
export function sendExport(pkR: HpkeKey, info: Uint8Array, exporterContext: Uint8Array, length: number): { enc: Uint8Array; secret: Uint8Array } {
  const { sharedSecret, enc } = encap(pkR);
  return { enc, secret: schedule.exportSecret(schedule.context(sharedSecret, info), exporterContext, length) };
}

export function receiveExport(skR: HpkeKey, enc: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number): Uint8Array {
  return schedule.exportSecret(schedule.context(decap(enc, skR), info), exporterContext, length);
}
