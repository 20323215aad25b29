// Device authentication without passwords: the server issues a random challenge, the device signs it with its
// device key, and gets a short-lived bearer session. Tokens are stored only as SHA-256 hashes (they are 256 random
// bits); activation codes, 60 bits, as HMACs under the server secret (server-secret.ts).
import { createHash, randomBytes } from 'node:crypto';

export const CHALLENGE_TTL_MS = 60_000;
export const SESSION_TTL_MS = 60 * 60_000;

export const sha256 = (b: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

// Crockford base32 without I, L, O, U: easy to read aloud and type.
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A one-time activation code: 12 symbols (60 bits), shown as XXXX-XXXX-XXXX. */
export function newActivationCode(): string {
  const bytes = randomBytes(12);
  let s = '';
  for (const b of bytes) s += alphabet[b & 31];
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}`;
}

/** How activation codes were kept before the server secret (server-secret.ts activationCodeMac); still accepted. */
export function legacyActivationCodeHash(code: string): Uint8Array {
  return sha256(`sealpost-activation\0${code.toUpperCase().replace(/[\s-]/g, '')}`);
}
