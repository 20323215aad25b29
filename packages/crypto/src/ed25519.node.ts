// Ed25519 signatures (RFC 8032) for the provider. libsodium, through sodium-native's prebuilt addon, where it loads:
// on this project's machine it signs in ~21 µs and verifies in ~46 µs, against ~45 and ~104 µs for node:crypto
// (OpenSSL 3.0), and a signature plus a verification is most of an MLS application message. Where the addon does
// not load (a platform without a prebuild), node:crypto does the same work; both are tested against RFC 8032's
// vectors and against each other.
import { sign as osslSign, verify as osslVerify, type KeyObject } from 'node:crypto';
import { privateKeyFrom, publicKeyFrom, rawPrivateKeyOf } from './der.node.js';
import { loadSodium, type Sodium } from './sodium.node.js';
import { ed25519PolicyAllows } from '@sealpost/protocol';

export interface Ed25519 {
  readonly name: 'libsodium' | 'node:crypto';
  /** `privateKey`: the 32-byte seed, or its 48-byte PKCS#8 form. */
  sign(privateKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** False for any malformed key or signature, and for what the Ed25519 policy refuses; never throws. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * Expanded keys by key bytes: deriving one costs as much as a signature, and a group member signs with one key and
 * verifies a handful of others over and over. Bounded; cleared when full.
 */
class KeyCache<K> {
  private readonly keys = new Map<string, K>();
  constructor(
    private readonly max: number,
    private readonly make: (k: Uint8Array) => K,
  ) {}
  get(k: Uint8Array): K {
    const id = Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
    let key = this.keys.get(id);
    if (key === undefined) {
      key = this.make(k);
      if (this.keys.size >= this.max) this.keys.clear();
      this.keys.set(id, key);
    }
    return key;
  }
}

export function sodiumEd25519(sodium: Sodium): Ed25519 {
  // libsodium's secret key is seed ‖ public key (64 bytes).
  const secretKeys = new KeyCache(64, (k) => {
    const pk = new Uint8Array(32);
    const sk = new Uint8Array(64);
    sodium.crypto_sign_seed_keypair(pk, sk, rawPrivateKeyOf('ed25519', k));
    return sk;
  });
  return {
    name: 'libsodium',
    sign(privateKey, message) {
      const sig = new Uint8Array(64);
      sodium.crypto_sign_detached(sig, message, secretKeys.get(privateKey));
      return sig;
    },
    verify(publicKey, message, signature) {
      // The policy first (ed25519-policy.ts): the same verdict as every other backend on the edge cases.
      return ed25519PolicyAllows(publicKey, signature) && sodium.crypto_sign_verify_detached(signature, message, publicKey);
    },
  };
}

export function nodeEd25519(): Ed25519 {
  const signKeys = new KeyCache<KeyObject>(64, (k) => privateKeyFrom('ed25519', k));
  const verifyKeys = new KeyCache<KeyObject>(4096, (k) => publicKeyFrom('ed25519', k));
  return {
    name: 'node:crypto',
    sign(privateKey, message) {
      return new Uint8Array(osslSign(null, message, signKeys.get(privateKey)));
    },
    verify(publicKey, message, signature) {
      if (!ed25519PolicyAllows(publicKey, signature)) return false;
      try {
        return osslVerify(null, message, verifyKeys.get(publicKey), signature);
      } catch {
        return false;
      }
    },
  };
}

const sodium = loadSodium();
/** What the provider signs and verifies with. */
export const ed25519: Ed25519 = sodium ? sodiumEd25519(sodium) : nodeEd25519();
