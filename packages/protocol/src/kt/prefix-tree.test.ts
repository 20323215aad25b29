// The prefix tree against a direct recursive definition of its root, proofs of presence and absence for every
// entry and many absent indexes, and fixed vectors (committed below) so a change to the hashing cannot go unseen.
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { EMPTY_HASH, PrefixTree, prefixLeafHash, prefixParentHash, prefixRootFromProof } from './prefix-tree.js';

const idx = (n: number) => sha256(new TextEncoder().encode(`index ${n}`));
const com = (n: number) => sha256(new TextEncoder().encode(`commitment ${n}`));
const bit = (b: Uint8Array, d: number) => (b[d >> 3]! >> (7 - (d & 7))) & 1;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The definition: empty → zeros, one entry → its leaf, more → parent of the two halves split by the next bit. */
function reference(entries: [Uint8Array, Uint8Array][], depth = 0): Uint8Array {
  if (entries.length === 0) return EMPTY_HASH;
  if (entries.length === 1) return prefixLeafHash(entries[0]![0], entries[0]![1]);
  return prefixParentHash(reference(entries.filter((e) => bit(e[0], depth) === 0), depth + 1), reference(entries.filter((e) => bit(e[0], depth) === 1), depth + 1));
}

describe('PrefixTree', () => {
  it('matches the definition as entries are added, and proves presence and absence', () => {
    const t = new PrefixTree();
    const entries: [Uint8Array, Uint8Array][] = [];
    expect(hex(t.root())).toBe(hex(EMPTY_HASH));
    for (let n = 0; n < 300; n++) {
      t.insert(idx(n), com(n));
      entries.push([idx(n), com(n)]);
      if (n % 37 === 0 || n < 10) expect(hex(t.root())).toBe(hex(reference(entries)));
    }
    const root = t.root();
    expect(hex(root)).toBe(hex(reference(entries)));
    for (let n = 0; n < 300; n++) {
      const r = prefixRootFromProof(idx(n), t.prove(idx(n)))!;
      expect(hex(r.root)).toBe(hex(root));
      expect(hex(r.found!)).toBe(hex(com(n)));
    }
    for (let n = 300; n < 400; n++) {
      const r = prefixRootFromProof(idx(n), t.prove(idx(n)))!;
      expect(hex(r.root)).toBe(hex(root));
      expect(r.found).toBeUndefined();
    }
    expect(() => t.insert(idx(5), com(6))).toThrow(/already present/);
  });

  it('refuses a proof whose terminal leaf is off the path, and a changed commitment changes the root', () => {
    const t = new PrefixTree();
    for (let n = 0; n < 50; n++) t.insert(idx(n), com(n));
    const root = t.root();
    const p = t.prove(idx(7));
    const other = t.prove(idx(8));
    expect(prefixRootFromProof(idx(7), { siblings: p.siblings, terminal: other.terminal })).toBeUndefined();
    const forged = prefixRootFromProof(idx(7), { siblings: p.siblings, terminal: { kind: 'leaf', index: idx(7), commitment: com(99) } })!;
    expect(hex(forged.root)).not.toBe(hex(root));
    // Claiming absence of a present entry gives another root.
    const hidden = prefixRootFromProof(idx(7), { siblings: p.siblings, terminal: { kind: 'empty' } })!;
    expect(hex(hidden.root)).not.toBe(hex(root));
  });

  it('rolls back a batch of inserts exactly (an epoch another node published first)', () => {
    const t = new PrefixTree();
    const entries: [Uint8Array, Uint8Array][] = [];
    for (let n = 0; n < 100; n++) {
      t.insert(idx(n), com(n));
      entries.push([idx(n), com(n)]);
    }
    const before = hex(t.root());
    t.checkpoint();
    for (let n = 100; n < 160; n++) t.insert(idx(n), com(n));
    expect(hex(t.root())).not.toBe(before);
    t.rollback();
    expect(hex(t.root())).toBe(before);
    expect(t.size).toBe(100);
    expect(prefixRootFromProof(idx(150), t.prove(idx(150)))!.found).toBeUndefined();
    for (let n = 200; n < 230; n++) {
      t.insert(idx(n), com(n));
      entries.push([idx(n), com(n)]);
    }
    expect(hex(t.root())).toBe(hex(reference(entries)));
    t.checkpoint();
    t.insert(idx(300), com(300));
    t.commit();
    entries.push([idx(300), com(300)]);
    expect(hex(t.root())).toBe(hex(reference(entries)));
  });

  it('keeps its committed vectors (hashing must never change silently)', () => {
    const t = new PrefixTree();
    expect(hex(t.root())).toBe('0000000000000000000000000000000000000000000000000000000000000000');
    t.insert(idx(1), com(1));
    expect(hex(t.root())).toBe(VECTORS.one);
    for (let n = 2; n <= 10; n++) t.insert(idx(n), com(n));
    expect(hex(t.root())).toBe(VECTORS.ten);
    const proof = t.prove(idx(3));
    expect(proof.siblings.map(hex)).toEqual(VECTORS.proof3);
  });
});

// Generated once by this implementation and reviewed against `reference` above; see docs/key-transparency.md.
const VECTORS = {
  one: 'b4018f4e7c5155701f2238faa9f6d59fe83fbb0d7dbb42f744ea834152ac24c9',
  ten: '5b0de496ff248e9069dc8517c0d9c3e004d6f51f53a36e271d735d4d0f9db123',
  proof3: [
    'a1401ddbc1191deb7e2d9ff1a214054f81b9aa044c4016b9b2f7dd35f2baf09e',
    'cea15078bb8f7844a5368e1d6283b4667547d752d160e4f7cd32dca1d4aaecee',
    '0000000000000000000000000000000000000000000000000000000000000000',
    'e1e57723976e561739b1b1e57392c42f97d572d9262d52511ab344747a1b8aaf',
  ],
};
