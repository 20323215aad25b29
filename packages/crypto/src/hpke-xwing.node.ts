// HPKE (RFC 9180), base mode, of the pq-hybrid MLS suite: X-Wing / HKDF-SHA512 / AES-256-GCM (0x647a, 0x0003,
// 0x0002). The KEM is the library's — @hpke/hybridkem-x-wing: its key expansion, its checks, the X-Wing SHA3
// combiner — with the primitives under it made faster: its two X25519 operations per encapsulation, pure JavaScript
// there (~0.8 ms each here), by x25519.node.ts (libsodium or node:crypto, ~40 µs); ML-KEM-768 encapsulation and
// decapsulation, pure JavaScript in `mlkem` (~0.3–1 ms), by liboqs (Open Quantum Safe's C library compiled to
// WebAssembly, @oqs/liboqs-js: ~55 µs). Key generation from a seed stays `mlkem`'s (liboqs-js has no seeded key
// generation), as does a seeded encapsulation (only the draft's vectors make one). The key schedule is hpke.node.ts's
// over native HKDF-SHA512, and AES-256-GCM is node:crypto's, where the library's goes through WebCrypto (~1.4 ms per
// seal here). Together one seal costs ~0.4 ms instead of ~3.6 ms. No KEM or lattice code of ours: checked byte for
// byte against the CFRG X-Wing draft's vectors and differentially against @hpke/core with the unmodified library
// (hpke-xwing.node.test.ts).
import { XWing } from '@hpke/hybridkem-x-wing';
import { createMLKEM768 } from '@oqs/liboqs-js';
import type { PrivateKey, PublicKey } from 'ts-mls';
import { hkdfWith } from './hkdf.node.js';
import { aesGcmOpen, aesGcmSeal, hpkeSchedule, HPKE_NN } from './hpke.node.js';
import { x25519 } from './x25519.node.js';

export const XWING_NK = 32; // AES-256-GCM key
export const XWING_NN = HPKE_NN;

const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;
const isBasePoint = (u: Uint8Array) => u.length === 32 && u.every((b, i) => b === BASE_POINT[i]);

/** ML-KEM-768 as the X-Wing library calls it (its `mlkem` instance): [ciphertext, secret] from encap. */
interface MlKem {
  encap(pk: Uint8Array, seed?: Uint8Array): Promise<[Uint8Array, Uint8Array]>;
  decap(ct: Uint8Array, sk: Uint8Array): Promise<Uint8Array>;
  deriveKeyPair(seed: Uint8Array): Promise<[Uint8Array, Uint8Array]>;
}

const liboqs = createMLKEM768();

/**
 * The library's X-Wing KEM over X25519 from x25519.node.ts and ML-KEM-768 from liboqs (same results: the draft's
 * vectors and the differential tests say so).
 */
export function nativeXWing(): XWing {
  const kem = new XWing();
  // The two internals this relies on, in the exact version pinned (0.7.0): the X25519 the KEM calls as derive(sk, pk)
  // and the ML-KEM-768 it calls as encap/decap/deriveKeyPair.
  const inner = kem as unknown as { _x25519?: { derive?: unknown }; _m?: Partial<MlKem> };
  const m = inner._m;
  if (typeof inner._x25519?.derive !== 'function' || typeof m?.encap !== 'function' || typeof m.decap !== 'function' || typeof m.deriveKeyPair !== 'function') {
    throw new Error('@hpke/hybridkem-x-wing: its X25519 or ML-KEM is not where version 0.7.0 keeps it; pin that version or update hpke-xwing.node.ts');
  }
  const stock = m as MlKem;
  inner._x25519 = {
    // X25519(sk, 9) is a public key; anything else a shared secret, refused when all zero as the library does.
    derive: async (sk: Uint8Array, pk: Uint8Array) => (isBasePoint(pk) ? x25519.publicKey(sk) : x25519.sharedSecret(sk, pk)),
  };
  const mlkem: MlKem = {
    async encap(pk, seed) {
      if (seed) return stock.encap(pk, seed);
      const { ciphertext, sharedSecret } = (await liboqs).encapsulate(pk);
      return [ciphertext, sharedSecret];
    },
    decap: async (ct, sk) => (await liboqs).decapsulate(ct, sk),
    deriveKeyPair: (seed) => stock.deriveKeyPair(seed),
  };
  inner._m = mlkem;
  return kem;
}

export const xwing = nativeXWing();
const schedule = hpkeSchedule({ kem: 0x647a, kdf: 0x0003, aead: 0x0002 }, hkdfWith('sha512', 64), XWING_NK);

// ts-mls types HPKE keys as CryptoKey; these are the library's own key objects, which only the library reads.
type XKey = Awaited<ReturnType<XWing['deserializePublicKey']>>;
export const asXKey = (k: PrivateKey | PublicKey) => k as unknown as XKey;

async function encap(pub: Uint8Array): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }> {
  const recipientPublicKey = await xwing.importKey('raw', pub.slice().buffer, true);
  const { sharedSecret, enc } = await xwing.encap({ recipientPublicKey });
  return { sharedSecret: new Uint8Array(sharedSecret), enc: new Uint8Array(enc) };
}

async function decap(sk: PrivateKey, enc: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await xwing.decap({ enc: enc.slice().buffer, recipientKey: asXKey(sk) }));
}

/** Single-shot seal to a raw X-Wing public key (1,216 bytes). */
export async function xwingSeal(pub: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const { sharedSecret, enc } = await encap(pub);
  const ctx = schedule.context(sharedSecret, info);
  return { enc, ct: aesGcmSeal(ctx.key, ctx.baseNonce, aad, plaintext) };
}

export async function xwingOpen(sk: PrivateKey, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array> {
  const ctx = schedule.context(await decap(sk, enc), info);
  return aesGcmOpen(ctx.key, ctx.baseNonce, aad, ct);
}

/** RFC 9180 §6.2 / §5.3: single-shot secret export, sender and recipient. */
export async function xwingSendExport(pub: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number): Promise<{ enc: Uint8Array; secret: Uint8Array }> {
  const { sharedSecret, enc } = await encap(pub);
  return { enc, secret: schedule.exportSecret(schedule.context(sharedSecret, info), exporterContext, length) };
}

export async function xwingReceiveExport(sk: PrivateKey, enc: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number): Promise<Uint8Array> {
  return schedule.exportSecret(schedule.context(await decap(sk, enc), info), exporterContext, length);
}
