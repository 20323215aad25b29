// X25519 (RFC 7748) in two uses. For HPKE's DHKEM (hpke.node.ts): raw 32-byte keys in and out, from libsodium
// where sodium-native's addon loads (public key ~15 µs, shared secret ~38 µs here, against ~45 and ~43 µs through
// node:crypto KeyObjects, which must be imported first), else from node:crypto; both are checked against RFC 7748
// and each other. For the key-transparency VRF (protocol `vrfOutputFunction`): node:crypto's constant-time
// variable-base multiplication with one fixed secret scalar, about ten times faster than pure-JS curve arithmetic.
import { diffieHellman } from 'node:crypto';
import { privateKeyFrom, publicKeyFrom, rawPublicKey } from './der.node.js';
import { loadSodium, type Sodium } from './sodium.node.js';

/** X25519 over raw keys, as HPKE's DHKEM uses it. */
export interface X25519 {
  readonly name: 'libsodium' | 'node:crypto';
  /** The public key of a 32-byte private key (clamped by X25519, RFC 7748 §5). */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /** X25519(privateKey, publicKey); throws on an all-zero result (a small-order public key, RFC 9180 §7.1.4). */
  sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

const KEY_LEN = 32;
function checkLength(what: string, k: Uint8Array): void {
  if (k.length !== KEY_LEN) throw new Error(`X25519 ${what}: expected ${KEY_LEN} bytes, got ${k.length}`);
}
function refuseZero(out: Uint8Array): Uint8Array {
  if (out.every((b) => b === 0)) throw new Error('X25519: all-zero shared secret');
  return out;
}

export function sodiumX25519(sodium: Sodium): X25519 {
  return {
    name: 'libsodium',
    publicKey(privateKey) {
      checkLength('private key', privateKey);
      const out = new Uint8Array(KEY_LEN);
      sodium.crypto_scalarmult_base(out, privateKey);
      return out;
    },
    sharedSecret(privateKey, publicKey) {
      checkLength('private key', privateKey);
      checkLength('public key', publicKey);
      const out = new Uint8Array(KEY_LEN);
      try {
        sodium.crypto_scalarmult(out, privateKey, publicKey);
      } catch {
        // libsodium fails exactly when the result is all zero.
        throw new Error('X25519: all-zero shared secret');
      }
      return refuseZero(out);
    },
  };
}

export function nodeX25519(): X25519 {
  return {
    name: 'node:crypto',
    publicKey(privateKey) {
      checkLength('private key', privateKey);
      return rawPublicKey(privateKeyFrom('x25519', privateKey));
    },
    sharedSecret(privateKey, publicKey) {
      checkLength('private key', privateKey);
      checkLength('public key', publicKey);
      const keys = { privateKey: privateKeyFrom('x25519', privateKey), publicKey: publicKeyFrom('x25519', publicKey) };
      let out: Buffer;
      try {
        out = diffieHellman(keys);
      } catch {
        // OpenSSL 3 fails the derivation exactly when the result is all zero.
        throw new Error('X25519: all-zero shared secret');
      }
      return refuseZero(new Uint8Array(out));
    },
  };
}

const sodium = loadSodium();
/** What HPKE computes with. */
export const x25519: X25519 = sodium ? sodiumX25519(sodium) : nodeX25519();

/**
 * u ↦ X25519(scalar, u). The scalar is clamped by X25519, as RFC 7748 says; pass one that is already clamped. Keys
 * go in as JWK (der.node.ts), which Node imports about ten times faster than DER (~18 µs against ~175 µs here).
 */
export function x25519WithScalar(scalar: Uint8Array): (u: Uint8Array) => Uint8Array {
  if (scalar.length !== 32) throw new Error('X25519: scalar must be 32 bytes');
  const privateKey = privateKeyFrom('x25519', scalar);
  return (u) => {
    if (u.length !== 32) throw new Error('X25519: u-coordinate must be 32 bytes');
    return new Uint8Array(diffieHellman({ privateKey, publicKey: publicKeyFrom('x25519', u) }));
  };
}
