// The official RFC 9420 interop vectors (../shared/vectors/mls, from mlswg/mls-implementations), run against the
// parts of ts-mls that GroupEngine relies on, for Sealpost's ciphersuite (0x0001). Vectors are read, never copied.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeMlsMessage, joinGroup, makePskIndex, processMessage, acceptAll, type ClientState } from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { protectApplicationData, unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { createSecretTree } from 'ts-mls/secretTree.js';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { defaultPaddingConfig } from 'ts-mls/paddingConfig.js';
import { bytesToBase64 } from 'ts-mls/util/byteArray.js';
import { refhash } from 'ts-mls/crypto/hash.js';
import { deriveSecret, deriveTreeSecret, expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { signWithLabel, verifyWithLabel } from 'ts-mls/crypto/signature.js';
import { decryptWithLabel, encryptWithLabel } from 'ts-mls/crypto/hpke.js';
import type { CiphersuiteImpl } from 'ts-mls';
import { nodeCiphersuite } from '@sealpost/crypto';
import { defaultCiphersuite } from './ciphersuite.js';

// Every vector runs with ts-mls's stock (WebCrypto) provider and with our node:crypto provider.
const providers: [string, () => Promise<CiphersuiteImpl>][] = [
  ['stock provider', defaultCiphersuite],
  ['node:crypto provider', async () => nodeCiphersuite()],
];

const SUITE = 1; // MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
// ../shared/vectors when present (CI and developer machines), else the verbatim copies in test/vectors.
const sharedDir = new URL('../../../../../shared/vectors/mls/', import.meta.url);
const vectorDir = existsSync(sharedDir) ? sharedDir : new URL('../../../../test/vectors/mls/', import.meta.url);
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
function load<T>(name: string): T[] {
  return (JSON.parse(readFileSync(new URL(name, vectorDir), 'utf8')) as (T & { cipher_suite: number })[]).filter((v) => v.cipher_suite === SUITE);
}
function mls(bytes: string) {
  const decoded = decodeMlsMessage(hex(bytes), 0);
  if (!decoded) throw new Error('vector does not decode');
  return decoded[0];
}
// The vectors' credentials are arbitrary test identities, so these tests use an accept-all credential check.
// Product code never does (GroupEngine checks every leaf against the account-signed device list).
const unsafeAcceptAllCredentials = { ...defaultClientConfig, authService: { validateCredential: async () => true } };

for (const [provider, getCs] of providers) {
describe(`MLS vectors (${provider}): welcome.json`, () => {
  const vectors = load<{ init_priv: string; key_package: string; signer_pub: string; welcome: string }>('welcome.json');
  it('has vectors for our suite', () => expect(vectors.length).toBeGreaterThan(0));
  it.each(vectors.map((v, i) => [i, v] as const))('vector %i: decrypts group secrets and info, verifies signature and confirmation tag', async (_i, v) => {
    const cs = await getCs();
    const kp = mls(v.key_package);
    const w = mls(v.welcome);
    if (kp.wireformat !== 'mls_key_package' || w.wireformat !== 'mls_welcome') throw new Error('wrong wire formats');
    const ref = await makeKeyPackageRef(kp.keyPackage, cs.hash);
    const secrets = await decryptGroupSecrets(await cs.hpke.importPrivateKey(hex(v.init_priv)), ref, w.welcome, cs.hpke);
    expect(secrets).toBeDefined();
    const noPsk = new Uint8Array(cs.kdf.size);
    const gi = await decryptGroupInfo(w.welcome, secrets!.joinerSecret, noPsk, cs);
    expect(gi).toBeDefined();
    expect(await verifyGroupInfoSignature(gi!, hex(v.signer_pub), cs.signature)).toBe(true);
    expect(await verifyGroupInfoConfirmationTag(gi!, secrets!.joinerSecret, noPsk, cs)).toBe(true);
  });
});

describe(`MLS vectors (${provider}): message-protection.json`, () => {
  type V = {
    group_id: string; epoch: number; tree_hash: string; confirmed_transcript_hash: string;
    signature_priv: string; signature_pub: string; encryption_secret: string; sender_data_secret: string;
    application: string; application_priv: string;
  };
  const vectors = load<V>('message-protection.json');
  it('has vectors for our suite', () => expect(vectors.length).toBeGreaterThan(0));
  it.each(vectors.map((v, i) => [i, v] as const))('vector %i: application message unprotects, and protect→unprotect round-trips', async (_i, v) => {
    const cs = await getCs();
    const groupContext = {
      version: 'mls10' as const,
      cipherSuite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const,
      groupId: hex(v.group_id),
      epoch: BigInt(v.epoch),
      treeHash: hex(v.tree_hash),
      confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
      extensions: [],
    };
    const tree = () => createSecretTree(2, hex(v.encryption_secret), cs.kdf);
    const ratchetTree = [undefined, undefined, undefined];
    const retention = defaultClientConfig.keyRetentionConfig;
    const priv = mls(v.application_priv);
    if (priv.wireformat !== 'mls_private_message') throw new Error('wrong wire format');
    const out = await unprotectPrivateMessage(hex(v.sender_data_secret), priv.privateMessage, await tree(), ratchetTree, groupContext, retention, cs, hex(v.signature_pub));
    expect(out.content.content.contentType).toBe('application');
    if (out.content.content.contentType === 'application') expect(Buffer.from(out.content.content.applicationData).toString('hex')).toBe(v.application);

    const mine = await protectApplicationData(hex(v.signature_priv), hex(v.sender_data_secret), hex(v.application), new Uint8Array(), groupContext, await tree(), 1, defaultPaddingConfig, cs);
    const back = await unprotectPrivateMessage(hex(v.sender_data_secret), mine.privateMessage, await tree(), ratchetTree, groupContext, retention, cs, hex(v.signature_pub));
    if (back.content.content.contentType !== 'application') throw new Error('not application');
    expect(Buffer.from(back.content.content.applicationData).toString('hex')).toBe(v.application);
  });
});
}

for (const [provider, getCs] of providers) {
  describe(`MLS vectors (${provider}): crypto-basics.json`, () => {
    type Basics = {
      ref_hash: { label: string; value: string; out: string };
      expand_with_label: { secret: string; label: string; context: string; length: number; out: string };
      derive_secret: { secret: string; label: string; out: string };
      derive_tree_secret: { secret: string; label: string; generation: number; length: number; out: string };
      sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
      encrypt_with_label: { priv: string; pub: string; label: string; context: string; plaintext: string; kem_output: string; ciphertext: string };
    };
    const vectors = load<Basics>('crypto-basics.json');
    const x = (b: Uint8Array) => Buffer.from(b).toString('hex');
    it('has vectors for our suite', () => expect(vectors.length).toBeGreaterThan(0));
    it.each(vectors.map((v, i) => [i, v] as const))('vector %i: ref hash, KDF labels, signatures, HPKE', async (_i, v) => {
      const cs = await getCs();
      expect(x(await refhash(v.ref_hash.label, hex(v.ref_hash.value), cs.hash))).toBe(v.ref_hash.out);
      const e = v.expand_with_label;
      expect(x(await expandWithLabel(hex(e.secret), e.label, hex(e.context), e.length, cs.kdf))).toBe(e.out);
      expect(x(await deriveSecret(hex(v.derive_secret.secret), v.derive_secret.label, cs.kdf))).toBe(v.derive_secret.out);
      const t = v.derive_tree_secret;
      expect(x(await deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length, cs.kdf))).toBe(t.out);
      const s = v.sign_with_label;
      expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), hex(s.signature), cs.signature)).toBe(true);
      const mine = await signWithLabel(hex(s.priv), s.label, hex(s.content), cs.signature);
      expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), mine, cs.signature)).toBe(true);
      expect(x(mine)).toBe(s.signature); // Ed25519 is deterministic (RFC 8032)
      const h = v.encrypt_with_label;
      const priv = await cs.hpke.importPrivateKey(hex(h.priv));
      expect(x(await decryptWithLabel(priv, h.label, hex(h.context), hex(h.kem_output), hex(h.ciphertext), cs.hpke))).toBe(h.plaintext);
      const again = await encryptWithLabel(await cs.hpke.importPublicKey(hex(h.pub)), h.label, hex(h.context), hex(h.plaintext), cs.hpke);
      expect(x(await decryptWithLabel(priv, h.label, hex(h.context), again.enc, again.ct, cs.hpke))).toBe(h.plaintext);
    });
  });
}

type Passive = {
  external_psks: { psk_id: string; psk: string }[];
  key_package: string; signature_priv: string; encryption_priv: string; init_priv: string;
  welcome: string; ratchet_tree: string | null; initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
};

async function runPassive(v: Passive, cs: CiphersuiteImpl): Promise<void> {
  const kp = mls(v.key_package);
  const w = mls(v.welcome);
  if (kp.wireformat !== 'mls_key_package' || w.wireformat !== 'mls_welcome') throw new Error('wrong wire formats');
  const psks = Object.fromEntries(v.external_psks.map((p) => [bytesToBase64(hex(p.psk_id)), hex(p.psk)]));
  const tree = v.ratchet_tree ? decodeRatchetTree(hex(v.ratchet_tree), 0)?.[0] : undefined;
  let state: ClientState = await joinGroup(
    w.welcome,
    kp.keyPackage,
    { initPrivateKey: hex(v.init_priv), hpkePrivateKey: hex(v.encryption_priv), signaturePrivateKey: hex(v.signature_priv) },
    makePskIndex(undefined, psks),
    cs,
    tree,
    undefined,
    unsafeAcceptAllCredentials,
  );
  expect(Buffer.from(state.keySchedule.epochAuthenticator).toString('hex')).toBe(v.initial_epoch_authenticator);
  for (const epoch of v.epochs) {
    for (const p of [...epoch.proposals, epoch.commit]) {
      const msg = mls(p);
      if (msg.wireformat !== 'mls_private_message' && msg.wireformat !== 'mls_public_message') throw new Error('unexpected wire format');
      state = (await processMessage(msg, state, makePskIndex(state, psks), acceptAll, cs)).newState;
    }
    expect(Buffer.from(state.keySchedule.epochAuthenticator).toString('hex')).toBe(epoch.epoch_authenticator);
  }
}

for (const [provider, getCs] of providers) {
  for (const file of ['passive-client-welcome.json', 'passive-client-handling-commit.json', 'passive-client-random.json']) {
    describe(`MLS vectors (${provider}): ${file}`, () => {
      const vectors = load<Passive>(file);
      it('has vectors for our suite', () => expect(vectors.length).toBeGreaterThan(0));
      it.each(vectors.map((v, i) => [i, v] as const))('vector %i: joins and follows every epoch', async (_i, v) => runPassive(v, await getCs()), 120_000);
    });
  }
}
