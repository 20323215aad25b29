// Web Key Directory (draft-koch-openpgp-webkey-service §3.1): where an OpenPGP key for local@domain is served.
import { sha1 } from '@noble/hashes/legacy.js';
import { utf8 } from '../bytes.js';

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (RFC 6189 §5.1.6) of a byte string, as WKD uses it. */
export function zBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** The WKD hash of a local part: z-base-32 of SHA-1 of the lower-cased local part (§3.1). */
export const wkdHash = (localPart: string): string => zBase32(sha1(utf8(localPart.toLowerCase())));
