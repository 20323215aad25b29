// The seal pool: many HPKE seals asked for in one turn (as a commit in a large group does) are made partly on a
// worker thread, and every one opens with its recipient's key; a few seals stay in-thread.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as hpke from './hpke.node.js';
import { nodeCiphersuite } from './node-provider.node.js';
import { POOL_THRESHOLD, sealPoolCounts } from './hpke-seal-pool.node.js';

const cs = nodeCiphersuite();
const bytes = (n: number) => new Uint8Array(randomBytes(n));

async function sealMany(n: number) {
  const recipients = Array.from({ length: n }, () => hpke.generate());
  const info = bytes(120);
  const secrets = recipients.map(() => bytes(32));
  const publics = await Promise.all(recipients.map((r) => cs.hpke.importPublicKey(r.publicKey.pub)));
  const sealed = await Promise.all(publics.map((pk, i) => cs.hpke.seal(pk, secrets[i]!, info)));
  sealed.forEach((s, i) => {
    expect(hpke.open(recipients[i]!.privateKey, s.enc, info, new Uint8Array(), s.ct)).toEqual(secrets[i]);
  });
  // Fresh ephemeral keys everywhere, also across threads.
  expect(new Set(sealed.map((s) => Buffer.from(s.enc).toString('hex'))).size).toBe(n);
}

describe('HPKE seal pool', () => {
  it('seals a large batch partly on a worker thread, each opening with its recipient key', async () => {
    const before = sealPoolCounts();
    await sealMany(400);
    const after = sealPoolCounts();
    expect(after.inWorkers - before.inWorkers).toBeGreaterThan(0);
    expect(after.inWorkers - before.inWorkers + after.inThread - before.inThread).toBe(400);
  });

  it('keeps a small batch in-thread', async () => {
    const before = sealPoolCounts();
    await sealMany(POOL_THRESHOLD - 1);
    expect(sealPoolCounts().inWorkers).toBe(before.inWorkers);
  });

  it('refuses a small-order recipient key with a crypto error and seals the rest of its batch', async () => {
    const good = Array.from({ length: POOL_THRESHOLD * 2 }, () => hpke.generate().publicKey.pub);
    const keys = await Promise.all([...good, new Uint8Array(32)].map((k) => cs.hpke.importPublicKey(k)));
    const results = await Promise.allSettled(keys.map((k) => cs.hpke.seal(k, bytes(32), bytes(8))));
    // Only the bad one fails, wherever it was sealed.
    expect(results.filter((r) => r.status === 'rejected').length).toBe(1);
    const last = results[results.length - 1]!;
    expect(last.status).toBe('rejected');
    expect(String((last as PromiseRejectedResult).reason)).toMatch(/^CryptoError: HPKE seal/);
  });
});

describe('X-Wing seal pool (pq-hybrid suite)', () => {
  it('seals a large batch partly on a worker thread, each opening with its recipient key', async () => {
    const { nodeHybridCiphersuite } = await import('./node-hybrid-provider.node.js');
    const hybrid = await nodeHybridCiphersuite();
    const n = POOL_THRESHOLD * 2;
    const recipients = await Promise.all(Array.from({ length: n }, () => hybrid.hpke.generateKeyPair()));
    const info = bytes(120);
    const secrets = recipients.map(() => bytes(32));
    const before = sealPoolCounts();
    const sealed = await Promise.all(recipients.map((r, i) => hybrid.hpke.seal(r.publicKey, secrets[i]!, info)));
    const after = sealPoolCounts();
    expect(after.inWorkers - before.inWorkers).toBeGreaterThan(0);
    for (const [i, s] of sealed.entries()) {
      expect(s.enc.length).toBe(1120); // an X-Wing encapsulation
      expect(await hybrid.hpke.open(recipients[i]!.privateKey, s.enc, s.ct, info)).toEqual(secrets[i]);
    }
  });
});
