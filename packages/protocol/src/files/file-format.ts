// The encrypted file format (version 1). Each file has a fresh AES-256-GCM key. The plaintext is cut into chunks
// of `chunkSize` bytes (the last may be shorter, an empty file is one empty chunk); each chunk is sealed with
//   nonce = 0x00000000 ‖ uint64be(index)               (unique: the key is never used for another file)
//   aad   = "sealpost-file-v1\0" ‖ uint64be(index) ‖ final (0x01 for the last chunk, else 0x00)
// and the ciphertext blob is the sealed chunks back to back (each chunk plus its 16-byte tag). Binding the index
// and the final flag means chunks cannot be reordered, dropped or the file truncated at a chunk boundary without
// failing authentication; the per-file key means a chunk from another file never authenticates.
// This module is pure arithmetic; the AES-GCM itself is node:crypto (client/file-cipher.node.ts) or WebCrypto.
import { concatBytes, utf8 } from '../bytes.js';

export const FILE_FORMAT_VERSION = 1;
export const FILE_KEY_BYTES = 32;
export const FILE_TAG_BYTES = 16;
export const FILE_NONCE_BYTES = 12;
/** Default plaintext chunk size: large enough for throughput, small enough that memory stays flat. */
export const DEFAULT_FILE_CHUNK_SIZE = 1024 * 1024;
export const MIN_FILE_CHUNK_SIZE = 1024;
export const MAX_FILE_CHUNK_SIZE = 16 * 1024 * 1024;

const aadPrefix = utf8('sealpost-file-v1\0');

function uint64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

export function chunkCount(plainSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(plainSize / chunkSize));
}

export function cipherSizeOf(plainSize: number, chunkSize: number): number {
  return plainSize + chunkCount(plainSize, chunkSize) * FILE_TAG_BYTES;
}

/** Plaintext length of chunk `index`. */
export function plainChunkLength(index: number, plainSize: number, chunkSize: number): number {
  const last = chunkCount(plainSize, chunkSize) - 1;
  return index < last ? chunkSize : plainSize - last * chunkSize;
}

export function chunkNonce(index: number): Uint8Array {
  return concatBytes(new Uint8Array(4), uint64be(index));
}

export function chunkAad(index: number, final: boolean): Uint8Array {
  return concatBytes(aadPrefix, uint64be(index), new Uint8Array([final ? 1 : 0]));
}
