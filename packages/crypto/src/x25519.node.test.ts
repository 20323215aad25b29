// The native X25519 path of the key-transparency VRF gives exactly the RFC 9381 outputs: the RFC's examples, and
// the pure-JS output over many random keys and inputs (both signs of Gamma occur among them). HPKE's X25519
// backends (libsodium and node:crypto) give RFC 7748's results, agree with each other, and refuse small-order keys.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { vrfOutput, vrfOutputFunction } from '@sealpost/protocol';
import { nodeX25519, sodiumX25519, x25519, x25519WithScalar, type X25519 } from './x25519.node.js';
import { loadSodium } from './sodium.node.js';

const shared = new URL('../../../../shared/vectors/ecvrf-edwards25519-sha512-tai.json', import.meta.url);
const file = existsSync(shared) ? shared : new URL('../../../test/vectors/ecvrf-edwards25519-sha512-tai.json', import.meta.url);
const { vectors } = JSON.parse(readFileSync(file, 'utf8')) as { vectors: { sk: string; alpha: string; beta: string }[] };
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('VRF output over native X25519', () => {
  it.each(vectors.map((v, i) => [i, v] as const))('RFC 9381 example %i: beta exactly', (_i, v) => {
    expect(toHex(vrfOutputFunction(hex(v.sk), x25519WithScalar)(hex(v.alpha)))).toBe(v.beta);
  });

  it('equals the pure-JS output for 200 random keys and inputs', () => {
    for (let i = 0; i < 200; i++) {
      const sk = new Uint8Array(randomBytes(32));
      const alpha = new Uint8Array(randomBytes(i % 40));
      expect(toHex(vrfOutputFunction(sk, x25519WithScalar)(alpha))).toBe(toHex(vrfOutput(sk, alpha)));
    }
  });

  it('is X25519 exactly (RFC 7748 §5.2 test vector)', () => {
    const mul = x25519WithScalar(hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'));
    expect(toHex(mul(hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c')))).toBe(
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
  });
});

// RFC 7748 §6.1: Alice's and Bob's keys and their shared secret.
const ALICE_SK = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PK = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_SK = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const BOB_PK = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

const sodium = loadSodium();
const backends: X25519[] = [nodeX25519(), ...(sodium ? [sodiumX25519(sodium)] : [])];

describe.each(backends.map((b) => [b.name, b] as const))('X25519 for HPKE over %s', (_name, dh) => {
  it('gives RFC 7748 §6.1: both public keys and the shared secret, from either side', () => {
    expect(toHex(dh.publicKey(hex(ALICE_SK)))).toBe(ALICE_PK);
    expect(toHex(dh.publicKey(hex(BOB_SK)))).toBe(BOB_PK);
    expect(toHex(dh.sharedSecret(hex(ALICE_SK), hex(BOB_PK)))).toBe(SHARED);
    expect(toHex(dh.sharedSecret(hex(BOB_SK), hex(ALICE_PK)))).toBe(SHARED);
  });

  it('refuses small-order public keys (all-zero result, RFC 9180 §7.1.4) and wrong lengths', () => {
    for (const u of ['00'.repeat(32), '01' + '00'.repeat(31), 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800']) {
      expect(() => dh.sharedSecret(hex(ALICE_SK), hex(u))).toThrow(/all-zero shared secret/);
    }
    expect(() => dh.sharedSecret(hex(ALICE_SK), hex(BOB_PK).subarray(1))).toThrow(/public key: expected 32 bytes/);
    expect(() => dh.publicKey(new Uint8Array(31))).toThrow(/private key: expected 32 bytes/);
  });
});

describe('X25519 backends against each other', () => {
  it('libsodium and node:crypto give the same public keys and shared secrets over 300 random keys', () => {
    // Without the addon (a platform with no prebuild) there is only one backend to compare.
    if (!sodium) return expect(`${process.platform}-${process.arch}`).not.toBe('linux-x64');
    const [a, b] = backends;
    for (let i = 0; i < 300; i++) {
      const sk = new Uint8Array(randomBytes(32));
      const peer = new Uint8Array(randomBytes(32));
      peer[31]! |= i % 2 === 0 ? 0x80 : 0; // the unused top bit set or not: both ignore it (RFC 7748 §5)
      expect(toHex(b!.publicKey(sk))).toBe(toHex(a!.publicKey(sk)));
      expect(toHex(b!.sharedSecret(sk, peer))).toBe(toHex(a!.sharedSecret(sk, peer)));
    }
  });

  it('HPKE uses libsodium wherever sodium-native’s prebuilt addon loads (linux-x64 here)', () => {
    expect(x25519.name).toBe(sodium ? 'libsodium' : 'node:crypto');
    if (process.platform === 'linux' && process.arch === 'x64') expect(x25519.name).toBe('libsodium');
  });
});
