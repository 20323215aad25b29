// RFC 9381 Appendix B.3 examples (../shared/vectors): prove reproduces pi and beta exactly; verify accepts them and
// refuses any change to the proof, the input or the key.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { vrfOutput, vrfProve, vrfPublicKey, vrfVerify } from './vrf.js';

const shared = new URL('../../../../../shared/vectors/ecvrf-edwards25519-sha512-tai.json', import.meta.url);
const file = existsSync(shared) ? shared : new URL('../../../../test/vectors/ecvrf-edwards25519-sha512-tai.json', import.meta.url);
const { vectors } = JSON.parse(readFileSync(file, 'utf8')) as { vectors: { sk: string; pk: string; alpha: string; pi: string; beta: string }[] };
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381)', () => {
  it('has the RFC examples', () => expect(vectors.length).toBeGreaterThanOrEqual(2));
  it.each(vectors.map((v, i) => [i, v] as const))('example %i: prove and verify reproduce pi and beta', (_i, v) => {
    expect(toHex(vrfPublicKey(hex(v.sk)))).toBe(v.pk);
    const { proof, output } = vrfProve(hex(v.sk), hex(v.alpha));
    expect(toHex(proof)).toBe(v.pi);
    expect(toHex(output)).toBe(v.beta);
    expect(toHex(vrfOutput(hex(v.sk), hex(v.alpha)))).toBe(v.beta);
    expect(toHex(vrfVerify(hex(v.pk), hex(v.alpha), hex(v.pi))!)).toBe(v.beta);
  });
  it('refuses a changed proof, input or key', () => {
    const v = vectors[1]!;
    const pi = hex(v.pi);
    for (const i of [0, 31, 32, 47, 48, 79]) {
      const bad = pi.slice();
      bad[i]! ^= 1;
      expect(vrfVerify(hex(v.pk), hex(v.alpha), bad)).toBeUndefined();
    }
    expect(vrfVerify(hex(v.pk), hex('73'), pi)).toBeUndefined();
    expect(vrfVerify(hex(vectors[0]!.pk), hex(v.alpha), pi)).toBeUndefined();
    expect(vrfVerify(hex(v.pk), hex(v.alpha), pi.subarray(0, 79))).toBeUndefined();
    // A small-order public key (the identity) is refused, not trusted.
    expect(vrfVerify(hex('0100000000000000000000000000000000000000000000000000000000000000'), hex(v.alpha), pi)).toBeUndefined();
  });
});
