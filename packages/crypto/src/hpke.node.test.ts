// Differential test: our HPKE (node:crypto) against @hpke/core for the same suite — each seals, the other opens,
// over many random inputs; and the secret export agrees both ways.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import * as ours from './hpke.node.js';

const theirs = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
const ab = (b: Uint8Array) => b.slice().buffer as ArrayBuffer;
const rnd = (max: number) => new Uint8Array(randomBytes(Math.floor(Math.random() * max)));

describe('HPKE DHKEM(X25519)/HKDF-SHA256/AES-128-GCM', () => {
  it('@hpke/core opens what we seal, and we open what it seals (200 random cases)', async () => {
    for (let i = 0; i < 200; i++) {
      const ikm = new Uint8Array(randomBytes(32));
      const mine = ours.deriveKeyPair(ikm);
      const kp = await theirs.kem.deriveKeyPair(ab(ikm));
      // Same IKM → same key pair in both implementations (RFC 9180 §7.1.3).
      expect(new Uint8Array(await theirs.kem.serializePublicKey(kp.publicKey))).toEqual(mine.publicKey.pub);
      const info = rnd(64);
      const aad = rnd(64);
      const pt = rnd(2048);

      const sealed = ours.seal(mine.publicKey, info, aad, pt);
      const opened = await theirs.open({ recipientKey: kp, enc: ab(sealed.enc), info: ab(info) }, ab(sealed.ct), ab(aad));
      expect(new Uint8Array(opened)).toEqual(pt);

      const theirSealed = await theirs.seal({ recipientPublicKey: kp.publicKey, info: ab(info) }, ab(pt), ab(aad));
      expect(ours.open(mine.privateKey, new Uint8Array(theirSealed.enc), info, aad, new Uint8Array(theirSealed.ct))).toEqual(pt);
    }
  });

  it('exports the same secrets as @hpke/core', async () => {
    for (let i = 0; i < 50; i++) {
      const ikm = new Uint8Array(randomBytes(32));
      const mine = ours.deriveKeyPair(ikm);
      const kp = await theirs.kem.deriveKeyPair(ab(ikm));
      const info = rnd(32);
      const ctx = rnd(32);
      const sent = ours.sendExport(mine.publicKey, info, ctx, 32);
      const recipient = await theirs.createRecipientContext({ recipientKey: kp, enc: ab(sent.enc), info: ab(info) });
      expect(new Uint8Array(await recipient.export(ab(ctx), 32))).toEqual(sent.secret);
    }
  });

  it('refuses a tampered ciphertext, a wrong key and a small-order public key', () => {
    const a = ours.generate();
    const b = ours.generate();
    const sealed = ours.seal(a.publicKey, new Uint8Array(), new Uint8Array(), new Uint8Array([1, 2, 3]));
    const bad = sealed.ct.slice();
    bad[0]! ^= 1;
    expect(() => ours.open(a.privateKey, sealed.enc, new Uint8Array(), new Uint8Array(), bad)).toThrow();
    expect(() => ours.open(b.privateKey, sealed.enc, new Uint8Array(), new Uint8Array(), sealed.ct)).toThrow();
    // RFC 7748: the all-zero point gives an all-zero shared secret, which RFC 9180 §7.1.4 requires refusing.
    expect(() => ours.seal(ours.importPublic(new Uint8Array(32)), new Uint8Array(), new Uint8Array(), new Uint8Array())).toThrow();
  });
});
