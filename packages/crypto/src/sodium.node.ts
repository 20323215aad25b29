// libsodium through sodium-native's prebuilt addon (no build step: it ships binaries for the common platforms and
// installs without compiling). Used where it is clearly faster than node:crypto (OpenSSL 3.0) on this project's
// machine: Ed25519 and X25519. Where the addon does not load, callers fall back to node:crypto.
import { createRequire } from 'node:module';

/** The subset of sodium-native this package calls. sodium-native throws when libsodium returns an error. */
export interface Sodium {
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, message: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, message: Uint8Array, pk: Uint8Array): boolean;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
}

/** sodium-native if its addon loads here, else undefined. */
export function loadSodium(): Sodium | undefined {
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return undefined;
  }
}
