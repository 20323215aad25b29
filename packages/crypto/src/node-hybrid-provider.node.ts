// A ts-mls CiphersuiteImpl for MLS_256_XWING_AES256GCM_SHA512_Ed25519 (Sealpost's pq-hybrid suite) in Node: SHA-512,
// HMAC, HKDF and AES-256-GCM from node:crypto, synchronous — what every message and every key derivation costs —
// and Ed25519 as in the classic suite. HPKE with the X-Wing KEM (X25519 + ML-KEM-768) is the library's: ts-mls's
// own HPKE over @hpke/core with @hpke/hybridkem-x-wing — no lattice code of ours. Its AEAD calls (which MLS also uses
// to protect every message) are replaced by the native one, and its seals are batched onto worker threads in large
// commits (hpke-seal-pool.node.ts).
import { timingSafeEqual } from 'node:crypto';
import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { hkdfWith } from './hkdf.node.js';
import { aesGcmOpen, aesGcmSeal } from './hpke.node.js';
import { nodeCiphersuite } from './node-provider.node.js';
import { pooledHybridSeal } from './hpke-seal-pool.node.js';

const SUITE = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519' as const;
const sha512 = hkdfWith('sha512', 64);

let made: Promise<CiphersuiteImpl> | undefined;

export function nodeHybridCiphersuite(): Promise<CiphersuiteImpl> {
  made ??= (async () => {
    const stock = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
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
        ...stock.hpke,
        // A commit in a large group seals to many leaves at once: they go to the X-Wing worker pool, as classic ones do.
        async seal(publicKey, plaintext, info, aad) {
          const pub = await stock.hpke.exportPublicKey(publicKey);
          return pooledHybridSeal(pub, info, aad ?? new Uint8Array(), plaintext, () => stock.hpke.seal(publicKey, plaintext, info, aad));
        },
        async encryptAead(key, nonce, aad, plaintext) {
          try {
            return aesGcmSeal(key, nonce, aad ?? new Uint8Array(), plaintext);
          } catch (err) {
            throw new CryptoError(`AES-GCM: ${(err as Error).message}`);
          }
        },
        async decryptAead(key, nonce, aad, ciphertext) {
          try {
            return aesGcmOpen(key, nonce, aad ?? new Uint8Array(), ciphertext);
          } catch (err) {
            throw new CryptoError(`AES-GCM: ${(err as Error).message}`);
          }
        },
      },
      rng: classic.rng,
    };
  })();
  return made;
}
