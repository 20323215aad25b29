// The one MLS ciphersuite Sealpost speaks today (RFC 9420 §17.1, suite 0x0001).
import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl } from 'ts-mls';
import { ed25519PolicyAllows } from '../ed25519-policy.js';

export const CIPHERSUITE_NAME = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;

let cached: Promise<CiphersuiteImpl> | undefined;

/**
 * The ciphersuite implementation (ts-mls's own: WebCrypto, and @noble where WebCrypto lacks an algorithm), created
 * once per process, with the Ed25519 policy in front of its signature check like every other backend.
 */
export function defaultCiphersuite(): Promise<CiphersuiteImpl> {
  cached ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME)).then((cs) => ({
    ...cs,
    signature: {
      ...cs.signature,
      verify: async (publicKey, message, signature) => ed25519PolicyAllows(publicKey, signature) && (await cs.signature.verify(publicKey, message, signature)),
    },
  }));
  return cached;
}
