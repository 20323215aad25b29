// The VRF worker threads give exactly the indexes the pure-JS RFC 9381 code gives, in order; closing the pool
// refuses what is still being computed instead of leaving the caller waiting.
import { describe, expect, it } from 'vitest';
import { vrfInput, vrfOutput } from '@sealpost/protocol';
import { VrfPool } from './vrf-pool.js';

const sk = new Uint8Array(32).fill(5);

describe('VrfPool', () => {
  it('computes the indexes of many label versions across its threads, in order', async () => {
    const pool = new VrfPool(sk, 2);
    expect(pool.available).toBe(true); // `npm test` builds dist/ first
    const alphas = Array.from({ length: 101 }, (_, i) => vrfInput(`user${i}@example.org`, 1 + (i % 3)));
    const indexes = await pool.indexes(alphas);
    expect(indexes.map((x) => Buffer.from(x).toString('hex'))).toEqual(alphas.map((a) => Buffer.from(vrfOutput(sk, a).subarray(0, 32)).toString('hex')));
    await pool.close();
  });

  it('refuses pending work when closed', async () => {
    const pool = new VrfPool(sk, 1);
    const pending = pool.indexes(Array.from({ length: 2000 }, (_, i) => vrfInput(`u${i}@x`, 1)));
    await new Promise((r) => setTimeout(r, 50));
    const refused = expect(pending).rejects.toThrow(/closed/);
    await pool.close();
    await refused;
  });
});
