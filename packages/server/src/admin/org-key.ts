// Keys the server keeps in its store, their private halves sealed under the server secret (server-secret.ts). The
// organisation key signs remote-wipe commands and device-removal notices (design.md, Admin); clients pin its public
// half when they enroll and act on nothing it did not sign. In the store, so every node of a cluster signs with the
// same key; sealed, so a copy of the database alone cannot.
import { randomBytes } from 'node:crypto';
import { SealpostError, fromBase64Url, toBase64Url, vrfPublicKey, type SignatureKeyPair } from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { ServerStore } from '../store/store.js';
import { isSealed, openPrivateKey, sealPrivateKey, type ServerSecret } from '../server-secret.js';

export function loadOrgKey(store: ServerStore, cs: CiphersuiteImpl, secret: ServerSecret): Promise<SignatureKeyPair> {
  return loadKeyPair(store, secret, 'org_signing_key', async () => {
    const { publicKey, signKey } = await cs.signature.keygen();
    return { publicKey, privateKey: signKey };
  });
}

/** The key-transparency keys: one signs tree heads, the other is the VRF key (see server/src/kt/). */
export async function loadKtKeys(store: ServerStore, cs: CiphersuiteImpl, secret: ServerSecret): Promise<{ signing: SignatureKeyPair; vrf: { secretKey: Uint8Array; publicKey: Uint8Array } }> {
  const signing = await loadKeyPair(store, secret, 'kt_signing_key', async () => {
    const { publicKey, signKey } = await cs.signature.keygen();
    return { publicKey, privateKey: signKey };
  });
  const vrf = await loadKeyPair(store, secret, 'kt_vrf_key', async () => {
    const secretKey = new Uint8Array(randomBytes(32));
    return { publicKey: vrfPublicKey(secretKey), privateKey: secretKey };
  });
  return { signing, vrf: { secretKey: vrf.privateKey, publicKey: vrf.publicKey } };
}

/**
 * A key pair kept in the store's meta table as <public>.<sealed private>, made once; every node of a cluster reads
 * the same one. A key stored before sealing (<public>.<private>) is sealed in place the first time it is read.
 */
async function loadKeyPair(store: ServerStore, secret: ServerSecret, name: string, make: () => Promise<SignatureKeyPair>): Promise<SignatureKeyPair> {
  let stored = await store.getMeta(name);
  if (!stored) {
    const k = await make();
    await store.setMeta(name, `${toBase64Url(k.publicKey)}.${sealPrivateKey(secret, name, k.publicKey, k.privateKey)}`);
    // Two nodes starting at once: both read back whichever write won, so they use the same key.
    stored = (await store.getMeta(name))!;
  }
  const dot = stored.indexOf('.');
  const publicKey = fromBase64Url(stored.slice(0, dot));
  const rest = stored.slice(dot + 1);
  if (dot < 0 || !publicKey) throw new SealpostError('CONFIG_INVALID', `${name} in the store is malformed`);
  if (isSealed(rest)) return { publicKey, privateKey: openPrivateKey(secret, name, publicKey, rest) };
  const privateKey = fromBase64Url(rest);
  if (!privateKey) throw new SealpostError('CONFIG_INVALID', `${name} in the store is malformed`);
  await store.setMeta(name, `${toBase64Url(publicKey)}.${sealPrivateKey(secret, name, publicKey, privateKey)}`);
  return { publicKey, privateKey };
}
