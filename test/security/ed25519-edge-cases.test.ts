// Attack: a signature on the edge where Ed25519 verifiers disagree (small-order or mixed-order keys and R, S ≥ L,
// non-canonical encodings — ../shared/vectors/ed25519-speccheck/), so that a device list or a tree head verifies
// on some clients and not on others, splitting what they trust. Before, libsodium refused cases 0-2 that
// OpenSSL accepted. Now every provider a Sealpost client verifies with — the Node provider (libsodium or
// node:crypto) and ts-mls's own (WebCrypto / @noble, what browsers run) — refuses every case.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { defaultCiphersuite } from '@sealpost/protocol';
import { nodeCiphersuite } from '@sealpost/crypto';

const file = fileURLToPath(new URL('../../../shared/vectors/ed25519-speccheck/cases.json', import.meta.url));
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const cases = (JSON.parse(readFileSync(file, 'utf8')) as { message: string; pub_key: string; signature: string }[]).map((c) => ({
  message: hex(c.message),
  publicKey: hex(c.pub_key),
  signature: hex(c.signature),
}));

it('every provider refuses every edge-case signature, so all clients agree', async () => {
  expect(cases).toHaveLength(10);
  for (const cs of [nodeCiphersuite(), await defaultCiphersuite()]) {
    const accepted = await Promise.all(cases.map((c) => cs.signature.verify(c.publicKey, c.message, c.signature)));
    expect(accepted.map((a, i) => (a ? i : -1)).filter((i) => i >= 0)).toEqual([]);
  }
});
