// The prefix tree of the key-transparency log: a binary Merkle tree over 256-bit indexes (VRF outputs), holding
// one commitment per (label, version). It is compressed: a subtree holding a single entry is that entry's leaf, at
// whatever depth it became alone; a subtree holding none is the empty hash. So a tree of N entries is about
// log2(N) deep and a proof carries that many sibling hashes. Hashing (our choice; docs/key-transparency.md):
//   empty  = 32 zero bytes
//   leaf   = SHA-256(0x00 ‖ index ‖ commitment)
//   parent = SHA-256(0x01 ‖ left ‖ right)
// `PrefixTree` (mutable, typed arrays, for servers and auditors) builds it; `prefixRootFromProof` (pure) checks it.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual } from '../bytes.js';

export const INDEX_BYTES = 32;
export const EMPTY_HASH: Uint8Array = new Uint8Array(32);

/** A SHA-256 implementation; the default is @noble/hashes, a server may pass a native one (same results). */
export type Sha256 = (data: Uint8Array) => Uint8Array;

// One scratch buffer for the 65-byte hash inputs: these run millions of times when a log is replayed.
const scratch = new Uint8Array(65);
function hash65(tag: number, a: Uint8Array, b: Uint8Array, h: Sha256 = sha256): Uint8Array {
  scratch[0] = tag;
  scratch.set(a, 1);
  scratch.set(b, 33);
  return h(scratch);
}
export const prefixLeafHash = (index: Uint8Array, commitment: Uint8Array): Uint8Array => hash65(0, index, commitment);
export const prefixParentHash = (left: Uint8Array, right: Uint8Array): Uint8Array => hash65(1, left, right);

const bit = (index: Uint8Array, depth: number): number => (index[depth >> 3]! >> (7 - (depth & 7))) & 1;

/** The path to an index: sibling hashes from the root down, and what sits where the path ends. */
export interface PrefixProof {
  siblings: Uint8Array[];
  /** 'leaf' names the entry found at the end of the path (the index itself, or another sharing the prefix). */
  terminal: { kind: 'empty' } | { kind: 'leaf'; index: Uint8Array; commitment: Uint8Array };
}

/**
 * The root a proof implies for `index`, and whether it shows the index present (with which commitment) or absent.
 * Undefined when the proof is malformed (a terminal leaf that is not on the index's path, a wrong length).
 */
export function prefixRootFromProof(index: Uint8Array, proof: PrefixProof): { root: Uint8Array; found: Uint8Array | undefined } | undefined {
  if (index.length !== INDEX_BYTES || proof.siblings.length > 8 * INDEX_BYTES || proof.siblings.some((s) => s.length !== 32)) return undefined;
  const depth = proof.siblings.length;
  let h: Uint8Array;
  let found: Uint8Array | undefined;
  if (proof.terminal.kind === 'empty') {
    h = EMPTY_HASH;
  } else {
    const t = proof.terminal;
    if (t.index.length !== INDEX_BYTES || t.commitment.length !== 32) return undefined;
    // The leaf must lie on this index's path for the first `depth` bits.
    for (let d = 0; d < depth; d++) if (bit(t.index, d) !== bit(index, d)) return undefined;
    h = prefixLeafHash(t.index, t.commitment);
    if (bytesEqual(t.index, index)) found = t.commitment;
  }
  for (let d = depth - 1; d >= 0; d--) h = bit(index, d) === 0 ? prefixParentHash(h, proof.siblings[d]!) : prefixParentHash(proof.siblings[d]!, h);
  return { root: h, found };
}

const NONE = -1;

/**
 * The tree as a server or auditor keeps it: nodes in typed arrays (about 100 bytes per entry), hashes recomputed
 * only along changed paths when `root()` is asked for. Entries are never removed (a log only grows).
 */
export class PrefixTree {
  constructor(private readonly sha: Sha256 = sha256) {}

  // Node n: left[n], right[n] are child node numbers (NONE if empty); leaf[n] >= 0 marks a leaf (its entry number).
  private left = new Int32Array(1024);
  private right = new Int32Array(1024);
  private leaf = new Int32Array(1024);
  private hashes = new Uint8Array(1024 * 32);
  private dirty = new Uint8Array(1024);
  private nodes = 0;
  private rootNode = NONE;
  // Entry e: its index and commitment.
  private indexes = new Uint8Array(1024 * 32);
  private commitments = new Uint8Array(1024 * 32);
  private entries = 0;
  /** While a checkpoint is open: how to undo the pointer changes made to nodes that existed before it. */
  private journal: { saved: { nodes: number; entries: number; rootNode: number }; links: [node: number, side: 0 | 1 | 2, old: number][]; touched: number[] } | undefined;

  get size(): number {
    return this.entries;
  }

  private newNode(leafEntry: number): number {
    if (this.nodes === this.left.length) {
      const grow = <T extends Int32Array | Uint8Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.left = grow(this.left);
      this.right = grow(this.right);
      this.leaf = grow(this.leaf);
      this.dirty = grow(this.dirty);
      const h = new Uint8Array(this.hashes.length * 2);
      h.set(this.hashes);
      this.hashes = h;
    }
    const n = this.nodes++;
    this.left[n] = NONE;
    this.right[n] = NONE;
    this.leaf[n] = leafEntry;
    this.dirty[n] = 1;
    return n;
  }

  private entryIndex(e: number): Uint8Array {
    return this.indexes.subarray(e * 32, e * 32 + 32);
  }

  private entryCommitment(e: number): Uint8Array {
    return this.commitments.subarray(e * 32, e * 32 + 32);
  }

  /** Adds an entry. An index may be inserted once (a (label, version) pair is never rewritten). */
  insert(index: Uint8Array, commitment: Uint8Array): void {
    if (index.length !== INDEX_BYTES || commitment.length !== 32) throw new RangeError('PrefixTree.insert: 32-byte index and commitment');
    if (this.entries * 32 === this.indexes.length) {
      const i = new Uint8Array(this.indexes.length * 2);
      i.set(this.indexes);
      this.indexes = i;
      const c = new Uint8Array(this.commitments.length * 2);
      c.set(this.commitments);
      this.commitments = c;
    }
    const e = this.entries++;
    this.indexes.set(index, e * 32);
    this.commitments.set(commitment, e * 32);
    const node = this.newNode(e);
    if (this.rootNode === NONE) {
      this.link(NONE, 2, node);
      return;
    }
    // Walk down; on reaching a leaf, push it and the new one apart until their bits differ.
    let parent = NONE;
    let side = 0;
    let cur = this.rootNode;
    for (let depth = 0; ; depth++) {
      this.dirty[cur] = 1;
      if (this.journal && cur < this.journal.saved.nodes) this.journal.touched.push(cur);
      if (this.leaf[cur]! >= 0) {
        const other = this.entryIndex(this.leaf[cur]!);
        if (bytesEqual(other, index)) {
          // Undo the entry just added: the tree is unchanged (paths walked are only marked for re-hashing).
          this.entries--;
          this.nodes--;
          throw new Error('PrefixTree.insert: index already present');
        }
        let d = depth;
        while (bit(other, d) === bit(index, d)) d++;
        // Chain of parents from `depth` to `d`, then the split.
        let top = NONE;
        let bottom = NONE;
        for (let k = depth; k <= d; k++) {
          const p = this.newNode(NONE);
          if (top === NONE) top = p;
          else if (bit(index, k - 1) === 0) this.left[bottom] = p;
          else this.right[bottom] = p;
          bottom = p;
        }
        if (bit(index, d) === 0) {
          this.left[bottom] = node;
          this.right[bottom] = cur;
        } else {
          this.left[bottom] = cur;
          this.right[bottom] = node;
        }
        if (parent === NONE) this.link(NONE, 2, top);
        else this.link(parent, side as 0 | 1, top);
        return;
      }
      const b = bit(index, depth);
      const next = b === 0 ? this.left[cur]! : this.right[cur]!;
      if (next === NONE) {
        this.link(cur, b as 0 | 1, node);
        return;
      }
      parent = cur;
      side = b;
      cur = next;
    }
  }

  /** Point an existing node's child (side 0/1), or the root (side 2), at `to` — journaled under a checkpoint. */
  private link(node: number, side: 0 | 1 | 2, to: number): void {
    const old = side === 2 ? this.rootNode : side === 0 ? this.left[node]! : this.right[node]!;
    if (this.journal && (side === 2 || node < this.journal.saved.nodes)) this.journal.links.push([node, side, old]);
    if (side === 2) this.rootNode = to;
    else if (side === 0) this.left[node] = to;
    else this.right[node] = to;
  }

  /** Start a batch of inserts that `rollback` can undo (an epoch another node published first). */
  checkpoint(): void {
    this.journal = { saved: { nodes: this.nodes, entries: this.entries, rootNode: this.rootNode }, links: [], touched: [] };
  }

  /** Keep the inserts since `checkpoint`. */
  commit(): void {
    this.journal = undefined;
  }

  /** Undo every insert since `checkpoint`: the tree, its root and its proofs are as they were. */
  rollback(): void {
    const j = this.journal;
    if (!j) throw new Error('PrefixTree.rollback: no checkpoint');
    for (let i = j.links.length - 1; i >= 0; i--) {
      const [node, side, old] = j.links[i]!;
      if (side === 2) this.rootNode = old;
      else if (side === 0) this.left[node] = old;
      else this.right[node] = old;
    }
    for (const n of j.touched) this.dirty[n] = 1;
    this.nodes = j.saved.nodes;
    this.entries = j.saved.entries;
    this.rootNode = j.saved.rootNode;
    this.journal = undefined;
  }

  private hashOf(n: number): Uint8Array {
    if (n === NONE) return EMPTY_HASH;
    if (this.dirty[n]) {
      const h = this.leaf[n]! >= 0 ? hash65(0, this.entryIndex(this.leaf[n]!), this.entryCommitment(this.leaf[n]!), this.sha) : this.parentHash(n);
      this.hashes.set(h, n * 32);
      this.dirty[n] = 0;
    }
    return this.hashes.subarray(n * 32, n * 32 + 32);
  }

  private parentHash(n: number): Uint8Array {
    // hashOf may itself use the scratch buffer: take both children first.
    const l = this.hashOf(this.left[n]!);
    const r = this.hashOf(this.right[n]!);
    return hash65(1, l, r, this.sha);
  }

  root(): Uint8Array {
    return new Uint8Array(this.hashOf(this.rootNode));
  }

  /** The proof for `index` against the current root (call `root()` first if entries were added since). */
  prove(index: Uint8Array): PrefixProof {
    this.root();
    const siblings: Uint8Array[] = [];
    let cur = this.rootNode;
    for (let depth = 0; cur !== NONE; depth++) {
      if (this.leaf[cur]! >= 0) {
        const e = this.leaf[cur]!;
        return { siblings, terminal: { kind: 'leaf', index: new Uint8Array(this.entryIndex(e)), commitment: new Uint8Array(this.entryCommitment(e)) } };
      }
      const b = bit(index, depth);
      siblings.push(new Uint8Array(this.hashOf(b === 0 ? this.right[cur]! : this.left[cur]!)));
      cur = b === 0 ? this.left[cur]! : this.right[cur]!;
    }
    return { siblings, terminal: { kind: 'empty' } };
  }
}
