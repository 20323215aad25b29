// The CFRG X-Wing draft's test vectors against the X-Wing KEM Sealpost's pq-hybrid suite uses (through ts-mls's
// provider: @hpke/hybridkem-x-wing): key generation from a seed, encapsulation from an encapsulation seed, and
// decapsulation, each byte for byte.
import { expect, it } from 'vitest';
import { XWing } from '@hpke/hybridkem-x-wing';
import { hex, toHex, xwingVectors as vectors } from '../../../../test/vectors/xwing-vectors.js';

it('has the draft vectors', () => expect(vectors.length).toBe(3));

it.each(vectors.map((v, i) => [i, v] as const))('vector %i: keys, encapsulation and decapsulation as the draft says', async (_i, v) => {
  const kem = new XWing();
  const kp = await kem.generateKeyPairDerand(hex(v.seed));
  expect(toHex(await kem.serializePublicKey(kp.publicKey))).toBe(v.pk);
  expect(toHex(await kem.serializePrivateKey(kp.privateKey))).toBe(v.sk);
  const enc = await kem.encap({ recipientPublicKey: await kem.deserializePublicKey(hex(v.pk).buffer as ArrayBuffer), ekm: hex(v.eseed) });
  expect(toHex(enc.enc)).toBe(v.ct);
  expect(toHex(enc.sharedSecret)).toBe(v.ss);
  const ss = await kem.decap({ enc: hex(v.ct).buffer as ArrayBuffer, recipientKey: await kem.deserializePrivateKey(hex(v.sk).buffer as ArrayBuffer) });
  expect(toHex(ss)).toBe(v.ss);
});
