// Helpers for linking devices and for organisation-signed commands, on the client side: sealing the link bundle
// to the new device's HPKE key (RFC 9180, the MLS ciphersuite's HPKE), and splitting a removal notice.
import {
  LINK_BUNDLE_INFO,
  SealpostError,
  decodeLinkBundle,
  encodeLinkBundle,
  utf8,
  type DeviceId,
  type LinkBundle,
  type SignedOrgCommand,
} from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';

/** HPKE key pair for receiving the link bundle (X25519 for our ciphersuite). */
export async function newLinkHpkeKeys(cs: CiphersuiteImpl): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }> {
  const kp = await cs.hpke.generateKeyPair();
  return { publicKey: await cs.hpke.exportPublicKey(kp.publicKey), privateKey: await cs.hpke.exportPrivateKey(kp.privateKey) };
}

/** Seal the bundle to the new device; the AAD binds it to that device id. */
export async function sealLinkBundle(cs: CiphersuiteImpl, hpkePublic: Uint8Array, device: DeviceId, bundle: LinkBundle): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const pub = await cs.hpke.importPublicKey(hpkePublic);
  return cs.hpke.seal(pub, encodeLinkBundle(bundle), LINK_BUNDLE_INFO, utf8(device));
}

export async function openLinkBundle(cs: CiphersuiteImpl, hpkePrivate: Uint8Array, device: DeviceId, sealed: Uint8Array): Promise<LinkBundle> {
  if (sealed.length < 32 + 16) throw new SealpostError('PROTOCOL_ERROR', 'link bundle: too short');
  let plain: Uint8Array;
  try {
    const priv = await cs.hpke.importPrivateKey(hpkePrivate);
    plain = await cs.hpke.open(priv, sealed.subarray(0, 32), sealed.subarray(32), LINK_BUNDLE_INFO, utf8(device));
  } catch (err) {
    throw new SealpostError('DECRYPT_FAILED', 'link bundle: cannot open it with this device key (was it sealed to another device?)', { cause: err });
  }
  return decodeLinkBundle(plain);
}

