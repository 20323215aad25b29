// Safety numbers: what two users compare to know that they see each other's real account keys. Computed from the
// two account keys only (not device keys), so adding a device leaves it unchanged and an account reset changes it.
// Construction after Signal's numeric fingerprint: per user, SHA-512 iterated over (version, key, user id); 30
// digits from the first 30 bytes; the two halves in a fixed order so both users see the same 60 digits.
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from './bytes.js';

const ITERATIONS = 5200;

function half(user: string, accountKey: Uint8Array): string {
  const id = utf8(user);
  let h = concatBytes(new Uint8Array([0, 0]), accountKey, id);
  for (let i = 0; i < ITERATIONS; i++) h = sha512(concatBytes(h, accountKey));
  let out = '';
  for (let i = 0; i < 6; i++) {
    // 5 bytes → a number below 2^40, reduced to 5 digits.
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + h[i * 5 + j]!;
    out += String(n % 100_000).padStart(5, '0');
  }
  return out;
}

/** 60 digits, the same for both users; shown as 12 groups of 5. */
export function safetyNumber(a: { user: string; accountKey: Uint8Array }, b: { user: string; accountKey: Uint8Array }): string {
  const [x, y] = [half(a.user, a.accountKey), half(b.user, b.accountKey)].sort();
  return `${x}${y}`;
}

export function formatSafetyNumber(n: string): string {
  return n.match(/.{5}/g)!.join(' ');
}
