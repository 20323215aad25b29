// The log tree: an append-only Merkle tree with RFC 6962 §2.1 hashing (RFC 9162 §2.1), one leaf per epoch of the
// key-transparency log. Inclusion proofs show an epoch is in a tree head; consistency proofs show a later head
// extends an earlier one. Proof generation (server) and verification (clients, auditors) both live here.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes } from '../bytes.js';

export const HASH_BYTES = 32;

/** RFC 6962 §2.1: MTH of one entry = SHA-256(0x00 ‖ d). */
export const leafHash = (data: Uint8Array): Uint8Array => sha256(concatBytes(new Uint8Array([0]), data));
/** RFC 6962 §2.1: SHA-256(0x01 ‖ left ‖ right). */
export const nodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array => sha256(concatBytes(new Uint8Array([1]), left, right));

/** Largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The root over leaf hashes [lo, hi) — RFC 6962 §2.1 MTH. Empty tree: SHA-256 of nothing. */
export function rootOf(leaves: readonly Uint8Array[], lo = 0, hi = leaves.length): Uint8Array {
  const n = hi - lo;
  if (n === 0) return sha256(new Uint8Array(0));
  if (n === 1) return leaves[lo]!;
  const k = split(n);
  return nodeHash(rootOf(leaves, lo, lo + k), rootOf(leaves, lo + k, hi));
}

/** RFC 6962 §2.1.1 PATH(m, D[n]): the audit path of leaf `index` in the tree of the first `size` leaves. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number, size = leaves.length): Uint8Array[] {
  if (index < 0 || index >= size || size > leaves.length) throw new RangeError('inclusionProof: index out of range');
  const path = (m: number, lo: number, hi: number): Uint8Array[] => {
    const n = hi - lo;
    if (n <= 1) return [];
    const k = split(n);
    return m < k ? [...path(m, lo, lo + k), rootOf(leaves, lo + k, hi)] : [...path(m - k, lo + k, hi), rootOf(leaves, lo, lo + k)];
  };
  return path(index, 0, size);
}

/** RFC 6962 §2.1.2 PROOF(m, D[n]): proves the tree of `size1` leaves is a prefix of the tree of `size2`. */
export function consistencyProof(leaves: readonly Uint8Array[], size1: number, size2 = leaves.length): Uint8Array[] {
  if (size1 < 0 || size1 > size2 || size2 > leaves.length) throw new RangeError('consistencyProof: sizes out of range');
  if (size1 === 0 || size1 === size2) return [];
  const sub = (m: number, lo: number, hi: number, complete: boolean): Uint8Array[] => {
    const n = hi - lo;
    if (m === n) return complete ? [] : [rootOf(leaves, lo, hi)];
    const k = split(n);
    return m <= k ? [...sub(m, lo, lo + k, complete), rootOf(leaves, lo + k, hi)] : [...sub(m - k, lo + k, hi, false), rootOf(leaves, lo, lo + k)];
  };
  return sub(size1, 0, size2, true);
}

/**
 * Verify an inclusion proof (RFC 9162 §2.1.3.2). Returns false — never throws — for anything that does not check
 * out, including a proof of the wrong length.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_BYTES || root.length !== HASH_BYTES || proof.some((p) => p.length !== HASH_BYTES)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(r, root);
}

/** Verify a consistency proof (RFC 9162 §2.1.4.2); false for anything that does not check out. */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  // Nothing is proved about an empty tree; equal sizes need equal roots and no proof.
  if (size1 === 0) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (root1.length !== HASH_BYTES || root2.length !== HASH_BYTES || proof.some((p) => p.length !== HASH_BYTES)) return false;
  let path = [...proof];
  // If size1 is a power of two, the first subtree root is root1 itself.
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...path];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (path.length === 0) return false;
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
}

/**
 * A growing log tree that answers root, inclusion and consistency queries in O(log² n) hashes: the root of every
 * complete, aligned power-of-two range is computed once and kept (it never changes as the log grows).
 */
export class LogTree {
  private readonly leaves: Uint8Array[] = [];
  private readonly complete = new Map<string, Uint8Array>();

  get size(): number {
    return this.leaves.length;
  }

  append(leaf: Uint8Array): void {
    this.leaves.push(leaf);
  }

  /** Drop leaves after the first `size` (undo an append), with every cached range that covered them. */
  truncate(size: number): void {
    if (size < 0 || size > this.leaves.length) throw new RangeError('truncate: size out of range');
    this.leaves.length = size;
    for (const key of [...this.complete.keys()]) {
      const [lo, n] = key.split(':').map(Number) as [number, number];
      if (lo + n > size) this.complete.delete(key);
    }
  }

  private range(lo: number, hi: number): Uint8Array {
    const n = hi - lo;
    if (n === 0) return sha256(new Uint8Array(0));
    if (n === 1) return this.leaves[lo]!;
    const aligned = (n & (n - 1)) === 0 && lo % n === 0;
    const key = `${lo}:${n}`;
    if (aligned) {
      const hit = this.complete.get(key);
      if (hit) return hit;
    }
    const k = split(n);
    const h = nodeHash(this.range(lo, lo + k), this.range(lo + k, hi));
    if (aligned) this.complete.set(key, h);
    return h;
  }

  root(size = this.leaves.length): Uint8Array {
    return this.range(0, size);
  }

  inclusionProof(index: number, size = this.leaves.length): Uint8Array[] {
    if (index < 0 || index >= size || size > this.leaves.length) throw new RangeError('inclusionProof: index out of range');
    const path = (m: number, lo: number, hi: number): Uint8Array[] => {
      if (hi - lo <= 1) return [];
      const k = split(hi - lo);
      return m < k ? [...path(m, lo, lo + k), this.range(lo + k, hi)] : [...path(m - k, lo + k, hi), this.range(lo, lo + k)];
    };
    return path(index, 0, size);
  }

  consistencyProof(size1: number, size2 = this.leaves.length): Uint8Array[] {
    if (size1 < 0 || size1 > size2 || size2 > this.leaves.length) throw new RangeError('consistencyProof: sizes out of range');
    if (size1 === 0 || size1 === size2) return [];
    const sub = (m: number, lo: number, hi: number, whole: boolean): Uint8Array[] => {
      const n = hi - lo;
      if (m === n) return whole ? [] : [this.range(lo, hi)];
      const k = split(n);
      return m <= k ? [...sub(m, lo, lo + k, whole), this.range(lo + k, hi)] : [...sub(m - k, lo + k, hi, false), this.range(lo, lo + k)];
    };
    return sub(size1, 0, size2, true);
  }
}
