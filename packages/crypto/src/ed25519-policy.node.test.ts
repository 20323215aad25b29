// Every Ed25519 backend a Sealpost component verifies with — libsodium, node:crypto (OpenSSL) and ts-mls's own
// provider (WebCrypto / @noble, what browsers run) — gives the same verdict on each ed25519-speccheck edge case,
// and that verdict is the written policy's (protocol/src/ed25519-policy.ts). Before the policy, libsodium refused
// cases 0-2 that OpenSSL accepted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCiphersuite, ed25519PolicyAllows } from '@sealpost/protocol';
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import { nodeEd25519, sodiumEd25519 } from './ed25519.node.js';
import { loadSodium } from './sodium.node.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const cases = (JSON.parse(readFileSync(join(import.meta.dirname, '../../../../shared/vectors/ed25519-speccheck/cases.json'), 'utf8')) as { message: string; pub_key: string; signature: string }[]).map(
  (c, i) => ({ i, message: hex(c.message), publicKey: hex(c.pub_key), signature: hex(c.signature) }),
);

/**
 * What the policy decides: every case is refused, each for a reason no honest signer meets (an honest key is a
 * clamped scalar times the base point, so in the prime-order subgroup; an honest S is reduced mod L):
 * 0, 1 a small-order A; 2 a small-order R; 3, 4, 5 an A with a torsion component; 6, 7 S >= L; 8, 9 an R that is
 * not a canonical point encoding. (RFC 8032's own vectors still verify: ed25519.node.test.ts.)
 */
const accepted = new Set<number>();

const sodium = loadSodium();
const backends: [string, (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => Promise<boolean> | boolean][] = [
  ['node:crypto', nodeEd25519().verify],
  ...(sodium ? [['libsodium', sodiumEd25519(sodium).verify] as [string, (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => boolean]] : []),
  ['ts-mls default provider', async (pk, m, s) => (await defaultCiphersuite()).signature.verify(pk, m, s)],
];

describe('one Ed25519 policy for every backend (ed25519-speccheck)', () => {
  it('reads all ten cases', () => expect(cases).toHaveLength(10));

  it.each(backends)('%s follows the policy on every case', async (_name, verify) => {
    const verdicts = await Promise.all(cases.map((c) => verify(c.publicKey, c.message, c.signature)));
    expect(verdicts.map((v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual([...accepted]);
  });

  it('the policy alone refuses what it should, before any backend', () => {
    expect(cases.filter((c) => ed25519PolicyAllows(c.publicKey, c.signature)).map((c) => c.i)).toEqual([]);
  });

  it("without the policy the backends disagree (why it exists)", async () => {
    const raw = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
    const rawVerdicts = await Promise.all(cases.map((c) => raw.signature.verify(c.publicKey, c.message, c.signature)));
    const policyVerdicts = cases.map((c) => accepted.has(c.i));
    expect(rawVerdicts).not.toEqual(policyVerdicts);
  });
});
