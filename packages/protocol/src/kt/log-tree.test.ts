// RFC 6962 / RFC 9162 Merkle proofs: every inclusion and consistency vector from transparency-dev/merkle
// (../shared/vectors/rfc6962) — happy paths accepted, tampered ones (wantErr) refused — and our proof generation
// checked against our verification for every size up to 40.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LogTree, consistencyProof, inclusionProof, leafHash, rootOf, verifyConsistency, verifyInclusion } from './log-tree.js';

const shared = fileURLToPath(new URL('../../../../../shared/vectors/rfc6962/', import.meta.url));
const dir = existsSync(shared) ? shared : fileURLToPath(new URL('../../../../test/vectors/rfc6962/', import.meta.url));
const b64 = (s: string | null | undefined) => new Uint8Array(Buffer.from(s ?? '', 'base64'));

function files(sub: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      if (f.isDirectory()) walk(join(d, f.name));
      else if (f.name.endsWith('.json')) out.push(join(d, f.name));
    }
  };
  walk(join(dir, sub));
  return out.sort();
}

describe('RFC 6962 inclusion proofs (transparency-dev vectors)', () => {
  const cases = files('inclusion');
  it('has vectors', () => expect(cases.length).toBeGreaterThan(20));
  it.each(cases.map((f) => [f.slice(dir.length), f]))('%s', (_name, f) => {
    const v = JSON.parse(readFileSync(f, 'utf8')) as { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean };
    expect(verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root))).toBe(!v.wantErr);
  });
});

describe('RFC 6962 consistency proofs (transparency-dev vectors)', () => {
  const cases = files('consistency');
  it('has vectors', () => expect(cases.length).toBeGreaterThan(20));
  it.each(cases.map((f) => [f.slice(dir.length), f]))('%s', (_name, f) => {
    const v = JSON.parse(readFileSync(f, 'utf8')) as { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean };
    expect(verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2))).toBe(!v.wantErr);
  });
});

describe('our proofs', () => {
  const leaves = Array.from({ length: 40 }, (_, i) => leafHash(new Uint8Array([i])));
  it('inclusion and consistency proofs we make verify, for every size and index up to 40', () => {
    for (let n = 1; n <= 40; n++) {
      const root = rootOf(leaves.slice(0, n));
      for (let i = 0; i < n; i++) expect(verifyInclusion(leaves[i]!, i, n, inclusionProof(leaves, i, n), root)).toBe(true);
      for (let m = 1; m <= n; m++) {
        expect(verifyConsistency(m, n, consistencyProof(leaves, m, n), rootOf(leaves.slice(0, m)), root)).toBe(true);
      }
    }
  });
  it('LogTree (cached subtrees) gives the same roots and proofs', () => {
    const t = new LogTree();
    for (let n = 1; n <= 40; n++) {
      t.append(leaves[n - 1]!);
      expect(t.root()).toEqual(rootOf(leaves.slice(0, n)));
      for (let i = 0; i < n; i += 3) expect(t.inclusionProof(i)).toEqual(inclusionProof(leaves, i, n));
      for (let m = 1; m <= n; m += 2) expect(t.consistencyProof(m)).toEqual(consistencyProof(leaves, m, n));
    }
  });
  it('LogTree.truncate undoes appends, cached ranges included', () => {
    const t = new LogTree();
    for (let n = 0; n < 13; n++) t.append(leaves[n]!);
    const r13 = t.root();
    for (let n = 13; n < 20; n++) t.append(leaves[n]!);
    t.root();
    t.truncate(13);
    expect(t.root()).toEqual(r13);
    t.append(leaves[30]!);
    expect(t.root()).toEqual(rootOf([...leaves.slice(0, 13), leaves[30]!]));
  });
  it('a proof for another leaf or another root fails', () => {
    const root = rootOf(leaves.slice(0, 13));
    expect(verifyInclusion(leaves[3]!, 4, 13, inclusionProof(leaves, 3, 13), root)).toBe(false);
    expect(verifyConsistency(5, 13, consistencyProof(leaves, 5, 13), rootOf(leaves.slice(0, 6)), root)).toBe(false);
  });
});
