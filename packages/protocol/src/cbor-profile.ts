// The subset of CBOR (RFC 8949) that Sealpost reads, checked in one linear pass before the decoder sees the bytes.
// cbor-x decodes some tags in time quadratic in their size (tag 2/3 bignums: 300 KB took ~30 s), and our encoder
// never writes a tag, an indefinite length or a non-scalar map key, so the profile refuses them all up front.
import { SealpostError } from './errors.js';

/** Containers nested deeper than this are refused (our deepest structure nests 4 levels). */
export const MAX_CBOR_DEPTH = 32;

const fail = (where: string, offset: number, what: string): never => {
  throw new SealpostError('MALFORMED_FRAME', `${where}: not valid CBOR (${what} at offset ${offset})`);
};

/**
 * Throws MALFORMED_FRAME unless `bytes` is exactly one well-formed CBOR data item of Sealpost's profile:
 * definite lengths only (RFC 8949 §3.2.2 indefinite lengths refused), no tags (major type 6, §3.4), map keys that
 * are text strings or integers, at most MAX_CBOR_DEPTH levels, no trailing bytes. Costs O(length): byte and text
 * strings are skipped, not read, and every declared count is checked against the bytes left before it is used.
 */
export function checkCborProfile(bytes: Uint8Array, where: string): void {
  const end = bytes.length;
  let pos = 0;
  // For each open container: items still to read, and whether it is a map (then even positions are keys).
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  const read = (n: number): number => {
    if (pos + n > end) fail(where, pos, 'truncated');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + bytes[pos + i]!;
    pos += n;
    return v;
  };
  let first = true;
  while (first || remaining.length > 0) {
    first = false;
    const depth = remaining.length;
    let mustBeKey = false;
    if (depth > 0) {
      const left = remaining[depth - 1]!;
      if (left === 0) {
        remaining.pop();
        isMap.pop();
        continue;
      }
      mustBeKey = isMap[depth - 1]! && left % 2 === 0;
      remaining[depth - 1] = left - 1;
    }
    const start = pos;
    const initial = read(1);
    const major = initial >> 5;
    const info = initial & 0x1f;
    // §3: additional information 24..27 carries the argument in the next 1, 2, 4 or 8 bytes; 28..30 are reserved.
    let arg: number;
    if (info < 24) arg = info;
    else if (info <= 27) arg = read(1 << (info - 24)); // 8-byte values beyond 2^53 lose precision but stay huge
    else if (info === 31) return fail(where, start, major === 7 ? 'unexpected break' : 'indefinite lengths are not accepted');
    else return fail(where, start, `reserved additional information ${info}`);
    if (mustBeKey && major !== 0 && major !== 1 && major !== 3) fail(where, start, 'a map key that is not a text string or integer');
    switch (major) {
      case 0:
      case 1:
      case 7:
        break;
      case 2:
      case 3:
        if (arg > end - pos) fail(where, start, `a string of ${arg} bytes runs past the end`);
        pos += arg;
        break;
      case 4:
      case 5: {
        const items = major === 5 ? arg * 2 : arg;
        // Every item takes at least one byte, so a count larger than what is left cannot be honest.
        if (items > end - pos) fail(where, start, `${major === 5 ? 'a map' : 'an array'} of ${arg} entries runs past the end`);
        if (depth + 1 > MAX_CBOR_DEPTH) fail(where, start, `nested deeper than ${MAX_CBOR_DEPTH}`);
        remaining.push(items);
        isMap.push(major === 5);
        break;
      }
      case 6:
        fail(where, start, `tag ${arg}: tags are not used by this protocol`);
    }
  }
  if (pos !== end) fail(where, pos, `${end - pos} bytes after the CBOR value`);
}
