// The one MLS ciphersuite Sealpost speaks today (RFC 9420 §17.1, suite 0x0001).
import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl } from 'ts-mls';

export const CIPHERSUITE_NAME = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;

let cached: Promise<CiphersuiteImpl> | undefined;

/** The ciphersuite implementation, created once per process. */
export function defaultCiphersuite(): Promise<CiphersuiteImpl> {
  cached ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME));
  return cached;
}
