// The organisation key: signs remote-wipe commands and device-removal notices (design.md, Admin). Clients pin
// its public half when they enroll and act on nothing it did not sign. It lives in the store, so every node of a
// cluster signs with the same key.
import { fromBase64Url, toBase64Url, type SignatureKeyPair } from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { ServerStore } from '../store/store.js';

const META_KEY = 'org_signing_key';

export async function loadOrgKey(store: ServerStore, cs: CiphersuiteImpl): Promise<SignatureKeyPair> {
  let stored = await store.getMeta(META_KEY);
  if (!stored) {
    const { publicKey, signKey } = await cs.signature.keygen();
    await store.setMeta(META_KEY, `${toBase64Url(publicKey)}.${toBase64Url(signKey)}`);
    // Two nodes starting at once: both read back whichever write won, so they sign with the same key.
    stored = (await store.getMeta(META_KEY))!;
  }
  const [pub, priv] = stored.split('.');
  const publicKey = fromBase64Url(pub ?? '');
  const privateKey = fromBase64Url(priv ?? '');
  if (!publicKey || !privateKey) throw new Error('org_signing_key in the store is malformed');
  return { publicKey, privateKey };
}
