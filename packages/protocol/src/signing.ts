// Domain-separated Ed25519 signatures for Sealpost's own structures (device lists, auth challenges).
// The primitive is the MLS ciphersuite's (WebCrypto Ed25519 via ts-mls); we only add the label.
import type { Signature } from 'ts-mls';
import { concatBytes, utf8 } from './bytes.js';

export type SigningLabel = 'device-list' | 'auth-challenge' | 'legal-hold' | 'group-membership' | 'wipe-command' | 'wipe-receipt' | 'removal-notice' | 'refusal-notice' | 'kt-objection' | 'kt-tree-head' | 'kt-auditor-head' | 'kt-restart';

function labelled(label: SigningLabel, message: Uint8Array): Uint8Array {
  // "Sealpost v1 <label>\0" never collides with MLS's "MLS 1.0 <label>" prefix (RFC 9420 §5.1.2).
  return concatBytes(utf8(`Sealpost v1 ${label}\0`), message);
}

export function signLabelled(sig: Signature, privateKey: Uint8Array, label: SigningLabel, message: Uint8Array): Promise<Uint8Array> {
  return sig.sign(privateKey, labelled(label, message));
}

/** Returns false (never throws) for a bad key, signature or message. */
export async function verifyLabelled(sig: Signature, publicKey: Uint8Array, label: SigningLabel, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return await sig.verify(publicKey, labelled(label, message), signature);
  } catch {
    return false;
  }
}
