// The pq-hybrid suite's HPKE (hpke-xwing.node.ts): its X-Wing KEM with native X25519 against the CFRG X-Wing draft's
// vectors byte for byte, and the whole HPKE differentially against @hpke/core with the unmodified library — each
// seals, the other opens; secret export agrees both ways.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Aes256Gcm, CipherSuite, HkdfSha512 } from '@hpke/core';
import { XWing } from '@hpke/hybridkem-x-wing';
import { hex, toHex, xwingVectors as vectors } from '../../../test/vectors/xwing-vectors.js';
import type { PrivateKey } from 'ts-mls';
import { nativeXWing, xwingOpen, xwingReceiveExport, xwingSeal, xwingSendExport } from './hpke-xwing.node.js';

const ab = (b: Uint8Array) => b.slice().buffer as ArrayBuffer;
const rnd = (max: number) => new Uint8Array(randomBytes(Math.floor(Math.random() * max)));

const theirs = new CipherSuite({ kem: new XWing(), kdf: new HkdfSha512(), aead: new Aes256Gcm() });

describe('X-Wing KEM with native X25519', () => {
  it.each(vectors.map((v, i) => [i, v] as const))('draft vector %i: keys, encapsulation and decapsulation', async (_i, v) => {
    const kem = nativeXWing();
    const kp = await kem.generateKeyPairDerand(hex(v.seed));
    expect(toHex(await kem.serializePublicKey(kp.publicKey))).toBe(v.pk);
    const enc = await kem.encap({ recipientPublicKey: await kem.deserializePublicKey(ab(hex(v.pk))), ekm: ab(hex(v.eseed)) });
    expect(toHex(enc.enc)).toBe(v.ct);
    expect(toHex(enc.sharedSecret)).toBe(v.ss);
    expect(toHex(await kem.decap({ enc: ab(hex(v.ct)), recipientKey: await kem.deserializePrivateKey(ab(hex(v.sk))) }))).toBe(v.ss);
  });
});

describe('HPKE X-Wing/HKDF-SHA512/AES-256-GCM', () => {
  it('@hpke/core opens what we seal, and we open what it seals (40 random cases)', async () => {
    const ours = nativeXWing();
    for (let i = 0; i < 40; i++) {
      const ikm = new Uint8Array(randomBytes(32));
      const kp = await theirs.kem.deriveKeyPair(ab(ikm));
      const mine = await ours.deriveKeyPair(ab(ikm));
      // Same IKM → same key pair from both.
      const pub = new Uint8Array(await theirs.kem.serializePublicKey(kp.publicKey));
      expect(new Uint8Array(await ours.serializePublicKey(mine.publicKey))).toEqual(pub);
      const info = rnd(64);
      const aad = rnd(64);
      const pt = rnd(2048);

      const sealed = await xwingSeal(pub, info, aad, pt);
      expect(sealed.enc.length).toBe(1120);
      const opened = await theirs.open({ recipientKey: kp, enc: ab(sealed.enc), info: ab(info) }, ab(sealed.ct), ab(aad));
      expect(new Uint8Array(opened)).toEqual(pt);

      const theirSealed = await theirs.seal({ recipientPublicKey: kp.publicKey, info: ab(info) }, ab(pt), ab(aad));
      const sk = mine.privateKey as unknown as PrivateKey;
      expect(await xwingOpen(sk, new Uint8Array(theirSealed.enc), info, aad, new Uint8Array(theirSealed.ct))).toEqual(pt);
    }
  });

  it('exports the same secrets as @hpke/core, both ways', async () => {
    for (let i = 0; i < 10; i++) {
      const kp = await theirs.kem.generateKeyPair();
      const pub = new Uint8Array(await theirs.kem.serializePublicKey(kp.publicKey));
      const info = rnd(32);
      const ctx = rnd(32);
      const sent = await xwingSendExport(pub, info, ctx, 32);
      const recipient = await theirs.createRecipientContext({ recipientKey: kp, enc: ab(sent.enc), info: ab(info) });
      expect(new Uint8Array(await recipient.export(ab(ctx), 32))).toEqual(sent.secret);

      const sender = await theirs.createSenderContext({ recipientPublicKey: kp.publicKey, info: ab(info) });
      const sk = (await nativeXWing().deserializePrivateKey(await theirs.kem.serializePrivateKey(kp.privateKey))) as unknown as PrivateKey;
      expect(await xwingReceiveExport(sk, new Uint8Array(sender.enc), info, ctx, 32)).toEqual(new Uint8Array(await sender.export(ab(ctx), 32)));
    }
  });

  it('refuses a tampered ciphertext, a wrong key, a short key and a small-order X25519 half', async () => {
    const a = await theirs.kem.generateKeyPair();
    const b = await theirs.kem.generateKeyPair();
    const pub = new Uint8Array(await theirs.kem.serializePublicKey(a.publicKey));
    const none = new Uint8Array();
    const sealed = await xwingSeal(pub, none, none, new Uint8Array([1, 2, 3]));
    const bad = sealed.ct.slice();
    bad[0]! ^= 1;
    await expect(xwingOpen(a.privateKey as unknown as PrivateKey, sealed.enc, none, none, bad)).rejects.toThrow();
    await expect(xwingOpen(b.privateKey as unknown as PrivateKey, sealed.enc, none, none, sealed.ct)).rejects.toThrow();
    await expect(xwingSeal(pub.subarray(0, 1215), none, none, none)).rejects.toThrow();
    // The X25519 half of the key (its last 32 bytes) set to the all-zero point: X25519 gives zero, which is refused.
    const weak = pub.slice();
    weak.fill(0, 1184);
    await expect(xwingSeal(weak, none, none, none)).rejects.toThrow();
  });
});
