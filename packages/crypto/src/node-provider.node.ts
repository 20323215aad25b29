// A ts-mls CiphersuiteImpl for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 backed by node:crypto: synchronous
// SHA-256, HMAC and HKDF, X25519 and Ed25519 KeyObjects, AES-128-GCM — no WebCrypto key import per operation,
// which is where ts-mls's default provider spends most of its time.
import { randomFillSync, sign as edSign, verify as edVerify, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { CiphersuiteImpl, Hpke, PrivateKey, PublicKey } from 'ts-mls';
import { getCiphersuiteFromName } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { HASH_LEN, hkdfExpand, hkdfExtract, hmacSha256, sha256 } from './hkdf.node.js';
import { pkcs8PrivateKey, privateKeyFrom, publicKeyFrom, rawPublicKey } from './der.node.js';
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
 * KeyObjects for Ed25519 keys, by key bytes: importing costs about as much as the rest of an AES-GCM message, and a
 * group signs with one key and verifies a handful of members' keys over and over. Bounded; cleared when full.
 */
class KeyCache {
  private readonly keys = new Map<string, KeyObject>();
  constructor(
    private readonly max: number,
    private readonly make: (k: Uint8Array) => KeyObject,
  ) {}
  get(k: Uint8Array): KeyObject {
    const id = Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
    let key = this.keys.get(id);
    if (!key) {
      key = this.make(k);
      if (this.keys.size >= this.max) this.keys.clear();
      this.keys.set(id, key);
    }
    return key;
  }
}
/** Ed25519 private keys come as 32 raw bytes or as PKCS#8 (what WebCrypto's keygen exports); both are accepted. */
const signKeys = new KeyCache(64, (k) => privateKeyFrom('ed25519', k));
const verifyKeys = new KeyCache(4096, (k) => publicKeyFrom('ed25519', k));

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
        return new Uint8Array(edSign(null, message, signKeys.get(key)));
      },
      async verify(publicKey, message, signature) {
        if (publicKey.length !== 32 || signature.length !== 64) return false;
        try {
          return edVerify(null, message, verifyKeys.get(publicKey), signature);
        } catch {
          return false;
        }
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
