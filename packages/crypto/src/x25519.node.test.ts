// The native X25519 path of the key-transparency VRF gives exactly the RFC 9381 outputs: the RFC's examples, and
// the pure-JS output over many random keys and inputs (both signs of Gamma occur among them).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { vrfOutput, vrfOutputFunction } from '@sealpost/protocol';
import { x25519WithScalar } from './x25519.node.js';

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
