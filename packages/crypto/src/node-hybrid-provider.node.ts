// A ts-mls CiphersuiteImpl for MLS_256_XWING_AES256GCM_SHA512_Ed25519 (Sealpost's pq-hybrid suite) in Node: SHA-512,
// HMAC, HKDF and AES-256-GCM from node:crypto, synchronous — what every message and every key derivation costs —
// and Ed25519 as in the classic suite. HPKE is hpke-xwing.node.ts's: the library's X-Wing KEM (X25519 + ML-KEM-768,
// @hpke/hybridkem-x-wing — no lattice code of ours) with native X25519, key schedule and AEAD; its seals are batched
// onto worker threads in large commits (hpke-seal-pool.node.ts).
import { timingSafeEqual } from 'node:crypto';
import type { CiphersuiteImpl, PrivateKey, PublicKey } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { hkdfWith } from './hkdf.node.js';
import { aesGcmOpen, aesGcmSeal } from './hpke.node.js';
import { nodeCiphersuite } from './node-provider.node.js';
import { pooledHybridSeal } from './hpke-seal-pool.node.js';
import { asXKey, xwing, XWING_NK, XWING_NN, xwingOpen, xwingReceiveExport, xwingSeal, xwingSendExport } from './hpke-xwing.node.js';

const SUITE = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519' as const;
const sha512 = hkdfWith('sha512', 64);

/** ts-mls expects CryptoError from a provider; the library's and node:crypto's errors become one. */
async function crypto<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new CryptoError(`${what}: ${(err as Error).message}`);
  }
}

const exportPublic = async (k: PublicKey) => new Uint8Array(await xwing.serializePublicKey(asXKey(k)));

let made: Promise<CiphersuiteImpl> | undefined;

export function nodeHybridCiphersuite(): Promise<CiphersuiteImpl> {
  made ??= (async () => {
    const classic = nodeCiphersuite();
    return {
      name: SUITE,
      hash: {
        async digest(data) {
          return sha512.digest(data);
        },
        async mac(key, data) {
          return sha512.hmac(key, data);
        },
        async verifyMac(key, mac, data) {
          const expected = sha512.hmac(key, data);
          return mac.length === expected.length && timingSafeEqual(mac, expected);
        },
      },
      kdf: {
        size: sha512.hashLen,
        async extract(salt, ikm) {
          return sha512.extract(salt, ikm);
        },
        async expand(prk, info, len) {
          return sha512.expand(prk, info, len);
        },
      },
      signature: classic.signature,
      hpke: {
        keyLength: XWING_NK,
        nonceLength: XWING_NN,
        // A commit in a large group seals to many leaves at once: they go to the X-Wing worker pool, as classic ones do.
        async seal(publicKey, plaintext, info, aad) {
          const pub = await exportPublic(publicKey);
          const a = aad ?? new Uint8Array();
          return crypto('HPKE seal', () => pooledHybridSeal(pub, info, a, plaintext, () => xwingSeal(pub, info, a, plaintext)));
        },
        async open(privateKey, kemOutput, ciphertext, info, aad) {
          return crypto('HPKE open', () => xwingOpen(privateKey, kemOutput, info, aad ?? new Uint8Array(), ciphertext));
        },
        async exportSecret(publicKey, exporterContext, length, info) {
          const pub = await exportPublic(publicKey);
          return crypto('HPKE export', () => xwingSendExport(pub, info, exporterContext, length));
        },
        async importSecret(privateKey, exporterContext, kemOutput, length, info) {
          return crypto('HPKE export', () => xwingReceiveExport(privateKey, kemOutput, info, exporterContext, length));
        },
        async importPrivateKey(k) {
          return crypto('X-Wing private key', async () => (await xwing.deserializePrivateKey(k.slice().buffer)) as unknown as PrivateKey);
        },
        async importPublicKey(k) {
          return crypto('X-Wing public key', async () => (await xwing.deserializePublicKey(k.slice().buffer)) as unknown as PublicKey);
        },
        exportPublicKey: exportPublic,
        async exportPrivateKey(k) {
          return new Uint8Array(await xwing.serializePrivateKey(asXKey(k)));
        },
        async deriveKeyPair(ikm) {
          const kp = await xwing.deriveKeyPair(ikm.slice().buffer);
          return { privateKey: kp.privateKey as unknown as PrivateKey, publicKey: kp.publicKey as unknown as PublicKey };
        },
        async generateKeyPair() {
          const kp = await xwing.generateKeyPair();
          return { privateKey: kp.privateKey as unknown as PrivateKey, publicKey: kp.publicKey as unknown as PublicKey };
        },
        async encryptAead(key, nonce, aad, plaintext) {
          return crypto('AES-GCM', async () => aesGcmSeal(key, nonce, aad ?? new Uint8Array(), plaintext));
        },
        async decryptAead(key, nonce, aad, ciphertext) {
          return crypto('AES-GCM', async () => aesGcmOpen(key, nonce, aad ?? new Uint8Array(), ciphertext));
        },
      },
      rng: classic.rng,
    };
  })();
  return made;
}
