// A ts-mls CiphersuiteImpl for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 backed by node:crypto: synchronous
// SHA-256, HMAC and HKDF, X25519 and Ed25519 KeyObjects, AES-128-GCM — no WebCrypto key import per operation,
// which is where ts-mls's default provider spends most of its time.
import { randomBytes, sign as edSign, verify as edVerify, generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import type { CiphersuiteImpl, Hpke, PrivateKey, PublicKey } from 'ts-mls';
import { getCiphersuiteFromName } from 'ts-mls';
import { CryptoError } from 'ts-mls/mlsError.js';
import { HASH_LEN, hkdfExpand, hkdfExtract, hmacSha256, sha256 } from './hkdf.node.js';
import { privateKeyFrom, publicKeyFrom } from './der.node.js';
import * as hpke from './hpke.node.js';

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
    return wrap('HPKE seal', () => hpke.seal(fromKey(publicKey), info, aad ?? new Uint8Array(), plaintext));
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

/** Ed25519 private keys come as 32 raw bytes or as PKCS#8 (what WebCrypto's keygen exports); both are accepted. */
const signKeys = new Map<string, ReturnType<typeof privateKeyFrom>>();
function signKey(k: Uint8Array) {
  const id = Buffer.from(k).toString('base64');
  let key = signKeys.get(id);
  if (!key) {
    key = privateKeyFrom('ed25519', k);
    if (signKeys.size > 64) signKeys.clear();
    signKeys.set(id, key);
  }
  return key;
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
        return new Uint8Array(edSign(null, message, signKey(key)));
      },
      async verify(publicKey, message, signature) {
        if (publicKey.length !== 32 || signature.length !== 64) return false;
        try {
          return edVerify(null, message, publicKeyFrom('ed25519', publicKey), signature);
        } catch {
          return false;
        }
      },
      async keygen() {
        const { privateKey, publicKey } = generateKeyPairSync('ed25519');
        const der = publicKey.export({ format: 'der', type: 'spki' });
        // PKCS#8, like ts-mls's WebCrypto keygen, so keys stay usable with either provider.
        return { signKey: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })), publicKey: new Uint8Array(der.subarray(der.length - 32)) };
      },
    },
    hpke: nodeHpke,
    rng: {
      randomBytes(n) {
        return new Uint8Array(randomBytes(n));
      },
    },
  };
}

/** Check once that ts-mls knows the suite we implement (guards against a rename in a ts-mls upgrade). */
getCiphersuiteFromName(SUITE);
