// HKDF (RFC 5869) and HMAC over node:crypto — SHA-256 for the classic suite, SHA-512 for pq-hybrid — synchronous
// (no WebCrypto key import per call).
import { createHash, createHmac } from 'node:crypto';

export const HASH_LEN = 32;

// digest() returns a Buffer, which is a Uint8Array; viewing it (not copying) saves an allocation per call. Small
// digests may share Node's buffer pool, so callers must not take `.buffer` as theirs alone (ts-mls does not).
const view = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export function sha256(data: Uint8Array): Uint8Array {
  return view(createHash('sha256').update(data).digest());
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return view(createHmac('sha256', key).update(data).digest());
}

/** HKDF-Extract: PRK = HMAC(salt, IKM); an empty salt is HashLen zero bytes (RFC 5869 §2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt.length === 0 ? new Uint8Array(HASH_LEN) : salt, ikm);
}

const BLOCK_1 = new Uint8Array([1]);

/** HKDF-Expand (RFC 5869 §2.3): T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 255 * HASH_LEN) throw new Error(`HKDF-Expand: length ${length} > ${255 * HASH_LEN}`);
  if (length <= HASH_LEN) {
    // One block — every MLS key, nonce and secret: T(1) = HMAC(PRK, info ‖ 0x01), cut to length.
    const t1 = createHmac('sha256', prk).update(info).update(BLOCK_1).digest();
    return new Uint8Array(t1.buffer, t1.byteOffset, length);
  }
  const out = new Uint8Array(length);
  let prev = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++) {
    const h = createHmac('sha256', prk);
    h.update(prev);
    h.update(info);
    h.update(new Uint8Array([i]));
    prev = new Uint8Array(h.digest());
    out.set(prev.subarray(0, Math.min(HASH_LEN, length - off)), off);
    off += HASH_LEN;
  }
  return out;
}

/** HKDF and HMAC over another hash (SHA-512 for the pq-hybrid suite), the same construction as above. */
export function hkdfWith(hash: 'sha512' | 'sha384', hashLen: number) {
  const hmac = (key: Uint8Array, data: Uint8Array) => view(createHmac(hash, key).update(data).digest());
  return {
    hashLen,
    digest: (data: Uint8Array) => view(createHash(hash).update(data).digest()),
    hmac,
    extract: (salt: Uint8Array, ikm: Uint8Array) => hmac(salt.length === 0 ? new Uint8Array(hashLen) : salt, ikm),
    expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
      if (length > 255 * hashLen) throw new Error(`HKDF-Expand: length ${length} > ${255 * hashLen}`);
      if (length <= hashLen) {
        // One block, as above: every MLS key, nonce and secret.
        const t1 = createHmac(hash, prk).update(info).update(BLOCK_1).digest();
        return new Uint8Array(t1.buffer, t1.byteOffset, length);
      }
      const out = new Uint8Array(length);
      let prev = new Uint8Array(0);
      for (let i = 1, off = 0; off < length; i++) {
        prev = new Uint8Array(createHmac(hash, prk).update(prev).update(info).update(new Uint8Array([i])).digest());
        out.set(prev.subarray(0, Math.min(hashLen, length - off)), off);
        off += hashLen;
      }
      return out;
    },
  };
}
