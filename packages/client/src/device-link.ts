// Helpers for linking devices and for organisation-signed commands, on the client side: sealing the link bundle
// to the new device's HPKE key (RFC 9180, an MLS ciphersuite's HPKE: X-Wing under policy conversation-suite
// pq-hybrid, X25519 under classic — the key's length says which), and splitting a removal notice.
import {
  LINK_BUNDLE_INFO,
  SealpostError,
  decodeLinkBundle,
  encodeLinkBundle,
  utf8,
  type DeviceId,
  type LinkBundle,
  type SignedOrgCommand,
  type SuiteName,
} from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';

/** Public key and encapsulation sizes of the two link HPKEs: X25519 (classic) and X-Wing (pq-hybrid). */
const X25519_KEY = 32;
const XWING_KEY = 1216;
const XWING_ENC = 1120;

/** The suite whose HPKE a link key belongs to, by its length; anything else is refused. */
export function linkSuiteOf(hpkePublic: Uint8Array): SuiteName {
  if (hpkePublic.length === X25519_KEY) return 'classic';
  if (hpkePublic.length === XWING_KEY) return 'pq-hybrid';
  throw new SealpostError('INVALID_INPUT', `link HPKE key: ${hpkePublic.length} bytes is neither an X25519 (32) nor an X-Wing (1216) key`);
}

/** HPKE key pair for receiving the link bundle, in the given suite's HPKE (`cs` is that suite's implementation). */
export async function newLinkHpkeKeys(cs: CiphersuiteImpl): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }> {
  const kp = await cs.hpke.generateKeyPair();
  return { publicKey: await cs.hpke.exportPublicKey(kp.publicKey), privateKey: await cs.hpke.exportPrivateKey(kp.privateKey) };
}

/** Seal the bundle to the new device; the AAD binds it to that device id. */
export async function sealLinkBundle(cs: CiphersuiteImpl, hpkePublic: Uint8Array, device: DeviceId, bundle: LinkBundle): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const pub = await cs.hpke.importPublicKey(hpkePublic);
  return cs.hpke.seal(pub, encodeLinkBundle(bundle), LINK_BUNDLE_INFO, utf8(device));
}

/** `suite`: the suite of this device's link key (the bundle was sealed to it). */
export async function openLinkBundle(cs: CiphersuiteImpl, hpkePrivate: Uint8Array, device: DeviceId, sealed: Uint8Array, suite: SuiteName = 'classic'): Promise<LinkBundle> {
  const encLength = suite === 'pq-hybrid' ? XWING_ENC : X25519_KEY;
  if (sealed.length < encLength + 16) throw new SealpostError('PROTOCOL_ERROR', 'link bundle: too short');
  let plain: Uint8Array;
  try {
    const priv = await cs.hpke.importPrivateKey(hpkePrivate);
    plain = await cs.hpke.open(priv, sealed.subarray(0, encLength), sealed.subarray(encLength), LINK_BUNDLE_INFO, utf8(device));
  } catch (err) {
    throw new SealpostError('DECRYPT_FAILED', 'link bundle: cannot open it with this device key (was it sealed to another device?)', { cause: err });
  }
  return decodeLinkBundle(plain);
}

