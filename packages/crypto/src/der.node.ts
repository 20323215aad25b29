// Importing raw 32-byte X25519/Ed25519 keys into node:crypto KeyObjects. JWK import is used because it is several
// times faster than DER here (OpenSSL derives the public key from `d`; the `x` we pass is not trusted, and the
// derivation is checked once at load against RFC 7748 §6.1). PKCS#8 input is accepted for Ed25519 signing keys.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

export type Curve = 'x25519' | 'ed25519';
const crv = { x25519: 'X25519', ed25519: 'Ed25519' } as const;
const pkcs8Prefix = {
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
};
const PLACEHOLDER_X = 'A'.repeat(43);

const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/** The raw 32 bytes of a private key given raw or in the 48-byte PKCS#8 form of exactly that. */
export function rawPrivateKeyOf(curve: Curve, key: Uint8Array): Uint8Array {
  if (key.length === 32) return key;
  if (key.length === 48 && Buffer.from(key.subarray(0, 16)).equals(pkcs8Prefix[curve])) return key.subarray(16);
  throw new Error(`${curve} private key: expected 32 raw bytes or 48-byte PKCS#8, got ${key.length}`);
}

/** A private key from its raw 32 bytes, or from the 48-byte PKCS#8 form of exactly that. */
export function privateKeyFrom(curve: Curve, key: Uint8Array): KeyObject {
  const raw = rawPrivateKeyOf(curve, key);
  return createPrivateKey({ key: { kty: 'OKP', crv: crv[curve], d: b64u(raw), x: PLACEHOLDER_X }, format: 'jwk' });
}

/** The 48-byte PKCS#8 form of a raw 32-byte private key. */
export function pkcs8PrivateKey(curve: Curve, raw: Uint8Array): Uint8Array {
  if (raw.length !== 32) throw new Error(`${curve} private key: expected 32 bytes, got ${raw.length}`);
  const out = new Uint8Array(48);
  out.set(pkcs8Prefix[curve]);
  out.set(raw, 16);
  return out;
}

export function publicKeyFrom(curve: Curve, raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new Error(`${curve} public key: expected 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: crv[curve], x: b64u(raw) }, format: 'jwk' });
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(Buffer.from(pub.export({ format: 'jwk' }).x as string, 'base64url'));
}

// RFC 7748 §6.1: Alice's key pair. Proves at load that the public key comes from `d`, not from the placeholder.
const alice = privateKeyFrom('x25519', Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex'));
if (Buffer.from(rawPublicKey(alice)).toString('hex') !== '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a') {
  throw new Error('node:crypto did not derive the X25519 public key from the private key; refusing to run');
}
