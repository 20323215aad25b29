// A ts-mls CiphersuiteImpl for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 on native code: synchronous SHA-256,
// HMAC, HKDF and AES-128-GCM from node:crypto — no WebCrypto key import per operation, which is where ts-mls's
// default provider spends most of its time — and Ed25519 and X25519 from libsodium where its addon loads, else from
// node:crypto (ed25519.node.ts, x25519.node.ts).
import { randomFillSync, timingSafeEqual } from 'node:crypto';
import type { CiphersuiteImpl, Hpke, PrivateKey, PublicKey } from 'ts-mls';
import { getCiphersuiteFromName } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { HASH_LEN, hkdfExpand, hkdfExtract, hmacSha256, sha256 } from './hkdf.node.js';
import { pkcs8PrivateKey, privateKeyFrom, rawPublicKey } from './der.node.js';
import { ed25519 } from './ed25519.node.js';
import * as hpke from './hpke.node.js';
import { pooledSeal } from './hpke-seal-pool.node.js';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;

// ts-mls types HPKE keys as CryptoKey; our keys are opaque HpkeKey objects that only this module reads.
const asPrivate = (k: hpke.HpkeKey) => k as unknown as PrivateKey;
const asPublic = (k: hpke.HpkeKey) => k as unknown as PublicKey;
const fromKey = (k: PrivateKey | PublicKey) => k as unknown as hpke.HpkeKey;

function wrap<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CryptoError(`${what}: ${(err as Error).message}`);
  }
}

const nodeHpke: Hpke = {
  keyLength: hpke.HPKE_NK,
  nonceLength: hpke.HPKE_NN,
  async seal(publicKey, plaintext, info, aad) {
    try {
      return await pooledSeal(fromKey(publicKey), info, aad ?? new Uint8Array(), plaintext);
    } catch (err) {
      throw new CryptoError(`HPKE seal: ${(err as Error).message}`);
    }
  },
  async open(privateKey, kemOutput, ciphertext, info, aad) {
    return wrap('HPKE open', () => hpke.open(fromKey(privateKey), kemOutput, info, aad ?? new Uint8Array(), ciphertext));
  },
  async exportSecret(publicKey, exporterContext, length, info) {
    return wrap('HPKE export', () => hpke.sendExport(fromKey(publicKey), info, exporterContext, length));
  },
  async importSecret(privateKey, exporterContext, kemOutput, length, info) {
    return wrap('HPKE export', () => hpke.receiveExport(fromKey(privateKey), kemOutput, info, exporterContext, length));
  },
  async importPrivateKey(k) {
    return asPrivate(wrap('X25519 private key', () => hpke.importPrivate(k)));
  },
  async importPublicKey(k) {
    return asPublic(wrap('X25519 public key', () => hpke.importPublic(k)));
  },
  async exportPublicKey(k) {
    return new Uint8Array(fromKey(k).pub);
  },
  async exportPrivateKey(k) {
    return hpke.exportPrivate(fromKey(k));
  },
  async encryptAead(key, nonce, aad, plaintext) {
    return wrap('AES-GCM', () => hpke.aesGcmSeal(key, nonce, aad ?? new Uint8Array(), plaintext));
  },
  async decryptAead(key, nonce, aad, ciphertext) {
    return wrap('AES-GCM', () => hpke.aesGcmOpen(key, nonce, aad ?? new Uint8Array(), ciphertext));
  },
  async deriveKeyPair(ikm) {
    const kp = hpke.deriveKeyPair(ikm);
    return { privateKey: asPrivate(kp.privateKey), publicKey: asPublic(kp.publicKey) };
  },
  async generateKeyPair() {
    const kp = hpke.generate();
    return { privateKey: asPrivate(kp.privateKey), publicKey: asPublic(kp.publicKey) };
  },
};

/**
 * Random bytes from a pool refilled 4 KiB at a time: ts-mls asks for 4 bytes (the reuse guard) per message, and a
 * small randomFillSync costs about as much as a large one. Every byte is handed out once, as a copy.
 */
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;
function randomBytes(n: number): Uint8Array {
  if (n > POOL_SIZE / 4) return new Uint8Array(randomFillSync(new Uint8Array(n)));
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + n);
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export function nodeCiphersuite(): CiphersuiteImpl {
  return {
    name: SUITE,
    hash: {
      async digest(data) {
        return sha256(data);
      },
      async mac(key, data) {
        return hmacSha256(key, data);
      },
      async verifyMac(key, mac, data) {
        const expected = hmacSha256(key, data);
        return mac.length === expected.length && timingSafeEqual(mac, expected);
      },
    },
    kdf: {
      size: HASH_LEN,
      async extract(salt, ikm) {
        return hkdfExtract(salt, ikm);
      },
      async expand(prk, info, len) {
        return hkdfExpand(prk, info, len);
      },
    },
    signature: {
      async sign(key, message) {
        return wrap('Ed25519 sign', () => ed25519.sign(key, message));
      },
      async verify(publicKey, message, signature) {
        return ed25519.verify(publicKey, message, signature);
      },
      async keygen() {
        // 32 random bytes are an Ed25519 private key (RFC 8032 §5.1.5); not generateKeyPairSync (see hpke.generate).
        const raw = randomBytes(32);
        const publicKey = rawPublicKey(privateKeyFrom('ed25519', raw));
        // PKCS#8, like ts-mls's WebCrypto keygen, so keys stay usable with either provider.
        return { signKey: pkcs8PrivateKey('ed25519', raw), publicKey };
      },
    },
    hpke: nodeHpke,
    rng: {
      randomBytes,
    },
  };
}

/** Check once that ts-mls knows the suite we implement (guards against a rename in a ts-mls upgrade). */
getCiphersuiteFromName(SUITE);
