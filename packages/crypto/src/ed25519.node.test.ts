// Both Ed25519 backends give RFC 8032's signatures exactly, agree with each other byte for byte over random keys
// and messages, and refuse what must be refused; on a platform with sodium-native's prebuilt addon the provider
// really uses libsodium.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519, nodeEd25519, sodiumEd25519, type Ed25519 } from './ed25519.node.js';
import { loadSodium } from './sodium.node.js';
import { pkcs8PrivateKey, privateKeyFrom, rawPublicKey } from './der.node.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// RFC 8032 §7.1, TEST 1–3: secret key, public key, message, signature.
const RFC8032 = [
  [
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    '',
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  ],
  [
    '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    '72',
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ],
  [
    'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    'af82',
    '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  ],
] as const;

const sodium = loadSodium();
const backends: Ed25519[] = [nodeEd25519(), ...(sodium ? [sodiumEd25519(sodium)] : [])];

describe.each(backends.map((b) => [b.name, b] as const))('Ed25519 over %s', (_name, ed) => {
  it.each(RFC8032.map((v, i) => [i + 1, v] as const))('RFC 8032 TEST %i: the signature exactly, and it verifies', (_i, [sk, pk, msg, sig]) => {
    expect(toHex(ed.sign(hex(sk), hex(msg)))).toBe(sig);
    expect(toHex(ed.sign(pkcs8PrivateKey('ed25519', hex(sk)), hex(msg)))).toBe(sig);
    expect(ed.verify(hex(pk), hex(msg), hex(sig))).toBe(true);
  });

  it('refuses a changed message, a changed signature, another key and malformed lengths, without throwing', () => {
    const [, pk, , sig] = RFC8032[1];
    expect(ed.verify(hex(pk), hex('73'), hex(sig))).toBe(false);
    const bad = hex(sig);
    bad[10] = bad[10]! ^ 1;
    expect(ed.verify(hex(pk), hex('72'), bad)).toBe(false);
    expect(ed.verify(hex(RFC8032[0][1]), hex('72'), hex(sig))).toBe(false);
    expect(ed.verify(hex(pk).subarray(1), hex('72'), hex(sig))).toBe(false);
    expect(ed.verify(hex(pk), hex('72'), hex(sig).subarray(1))).toBe(false);
    // S ≥ L (RFC 8032 §5.1.7: must be rejected): S replaced by L itself.
    const highS = hex(sig);
    highS.set(hex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010'), 32);
    expect(ed.verify(hex(pk), hex('72'), highS)).toBe(false);
  });

  it('refuses a private key that is neither 32 bytes nor PKCS#8', () => {
    expect(() => ed.sign(new Uint8Array(31), hex('72'))).toThrow(/expected 32 raw bytes or 48-byte PKCS#8/);
    expect(() => ed.sign(new Uint8Array(48), hex('72'))).toThrow(/expected 32 raw bytes or 48-byte PKCS#8/);
  });
});

describe('Ed25519 backends against each other', () => {
  it('libsodium and node:crypto make the same signatures and accept each other’s, over 300 random keys and messages', () => {
    // Without the addon (a platform with no prebuild) there is only one backend to compare.
    if (!sodium) return expect(`${process.platform}-${process.arch}`).not.toBe('linux-x64');
    const [a, b] = backends;
    for (let i = 0; i < 300; i++) {
      const sk = new Uint8Array(randomBytes(32));
      const msg = new Uint8Array(randomBytes(i * 7));
      const sa = a!.sign(sk, msg);
      expect(toHex(b!.sign(sk, msg))).toBe(toHex(sa));
      const pk = rawPublicKey(privateKeyFrom('ed25519', sk));
      expect(a!.verify(pk, msg, sa)).toBe(true);
      expect(b!.verify(pk, msg, sa)).toBe(true);
    }
  });

  it('the provider uses libsodium wherever sodium-native’s prebuilt addon loads (linux-x64 here)', () => {
    expect(ed25519.name).toBe(sodium ? 'libsodium' : 'node:crypto');
    if (process.platform === 'linux' && process.arch === 'x64') expect(ed25519.name).toBe('libsodium');
  });
});
