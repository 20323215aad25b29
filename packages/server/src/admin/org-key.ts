// Keys the server keeps in its store. The organisation key signs remote-wipe commands and device-removal notices (design.md, Admin). Clients pin
// its public half when they enroll and act on nothing it did not sign. It lives in the store, so every node of a
// cluster signs with the same key.
import { randomBytes } from 'node:crypto';
import { fromBase64Url, toBase64Url, vrfPublicKey, type SignatureKeyPair } from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { ServerStore } from '../store/store.js';

export function loadOrgKey(store: ServerStore, cs: CiphersuiteImpl): Promise<SignatureKeyPair> {
  return loadKeyPair(store, 'org_signing_key', async () => {
    const { publicKey, signKey } = await cs.signature.keygen();
    return { publicKey, privateKey: signKey };
  });
}

/** The key-transparency keys: one signs tree heads, the other is the VRF key (see server/src/kt/). */
export async function loadKtKeys(store: ServerStore, cs: CiphersuiteImpl): Promise<{ signing: SignatureKeyPair; vrf: { secretKey: Uint8Array; publicKey: Uint8Array } }> {
  const signing = await loadKeyPair(store, 'kt_signing_key', async () => {
    const { publicKey, signKey } = await cs.signature.keygen();
    return { publicKey, privateKey: signKey };
  });
  const vrf = await loadKeyPair(store, 'kt_vrf_key', async () => {
    const secretKey = new Uint8Array(randomBytes(32));
    return { publicKey: vrfPublicKey(secretKey), privateKey: secretKey };
  });
  return { signing, vrf: { secretKey: vrf.privateKey, publicKey: vrf.publicKey } };
}

/** A key pair kept in the store's meta table, made once; every node of a cluster reads the same one. */
async function loadKeyPair(store: ServerStore, name: string, make: () => Promise<SignatureKeyPair>): Promise<SignatureKeyPair> {
  let stored = await store.getMeta(name);
  if (!stored) {
    const k = await make();
    await store.setMeta(name, `${toBase64Url(k.publicKey)}.${toBase64Url(k.privateKey)}`);
    // Two nodes starting at once: both read back whichever write won, so they use the same key.
    stored = (await store.getMeta(name))!;
  }
  const [pub, priv] = stored.split('.');
  const publicKey = fromBase64Url(pub ?? '');
  const privateKey = fromBase64Url(priv ?? '');
  if (!publicKey || !privateKey) throw new Error(`${name} in the store is malformed`);
  return { publicKey, privateKey };
}
