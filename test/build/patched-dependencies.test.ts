// The dependency patches of patches/ (applied by scripts/patch-deps.mjs after every install) are in place: an
// upgrade or an install without scripts that leaves a patched file unpatched fails here, not silently in speed.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandWithLabel, deriveTreeSecret } from 'ts-mls/crypto/kdf.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
type Patch = { package: string; version: string; file: string; upstreamSha256: string };
const { patches } = JSON.parse(readFileSync(join(root, 'patches', 'patches.json'), 'utf8')) as { patches: Patch[] };

describe('patched dependencies', () => {
  it.each(patches.map((p) => [`${p.package}@${p.version} ${p.file}`, p] as const))('%s is installed patched', (_what, p) => {
    const installed = JSON.parse(readFileSync(join(root, 'node_modules', p.package, 'package.json'), 'utf8')) as { version: string };
    expect(installed.version, `port or drop patches/${p.package}@${p.version}`).toBe(p.version);
    const patched = readFileSync(join(root, 'patches', `${p.package}@${p.version}`, p.file), 'utf8');
    expect(readFileSync(join(root, 'node_modules', p.package, p.file), 'utf8')).toBe(patched);
  });

  it("the patched ExpandWithLabel writes the RFC 9420 KDFLabel on its direct path and on upstream's encoder path", async () => {
    // The fast path covers prefixes of one byte; longer fields must still serialise with two-byte prefixes (RFC 9000
    // §16). Both paths reach kdf.expand with the KDFLabel bytes, which this fake KDF returns as they are.
    const seen: Uint8Array[] = [];
    const kdf = { size: 32, extract: async () => new Uint8Array(32), expand: async (_prk: Uint8Array, info: Uint8Array) => (seen.push(info), info) };
    await expandWithLabel(new Uint8Array(32), 'key', new Uint8Array([7, 8]), 16, kdf);
    const label = new TextEncoder().encode('MLS 1.0 key');
    expect([...seen[0]!]).toEqual([0, 16, label.length, ...label, 2, 7, 8]);
    const long = new Uint8Array(70).fill(9);
    await expandWithLabel(new Uint8Array(32), 'key', long, 300, kdf);
    expect([...seen[1]!]).toEqual([1, 44, label.length, ...label, 0x40, 70, ...long]);
    await deriveTreeSecret(new Uint8Array(32), 'nonce', 0x01020304, 12, kdf);
    const nonce = new TextEncoder().encode('MLS 1.0 nonce');
    expect([...seen[2]!]).toEqual([0, 12, nonce.length, ...nonce, 4, 1, 2, 3, 4]);
  });
});
