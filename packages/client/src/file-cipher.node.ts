// Chunked AES-256-GCM for files, in Node (node:crypto). The format is defined in protocol/files/file-format.ts.
// Streaming in both directions: memory stays at a few chunks whatever the file size.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import {
  FILE_TAG_BYTES,
  SealpostError,
  chunkAad,
  chunkCount,
  chunkNonce,
  cipherSizeOf,
  plainChunkLength,
} from '@sealpost/protocol';

/** Re-cut a byte stream into pieces of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const piece of source) {
    let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (have + buf.length >= size) {
      const take = size - have;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      have = 0;
      buf = buf.subarray(take);
    }
    if (buf.length > 0) {
      // Copy: the source may reuse its buffer for the next piece.
      parts.push(Buffer.from(buf));
      have += buf.length;
    }
  }
  if (have > 0) yield Buffer.concat(parts, have);
}

export function sealChunk(key: Uint8Array, index: number, final: boolean, plain: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, chunkNonce(index));
  c.setAAD(chunkAad(index, final));
  const body = c.update(plain);
  c.final();
  return Buffer.concat([body, c.getAuthTag()]);
}

export function openChunk(key: Uint8Array, index: number, final: boolean, sealed: Uint8Array): Buffer {
  if (sealed.length < FILE_TAG_BYTES) throw new SealpostError('FILE_TRUNCATED', `chunk ${index} is shorter than its tag`);
  const d = createDecipheriv('aes-256-gcm', key, chunkNonce(index));
  d.setAAD(chunkAad(index, final));
  d.setAuthTag(sealed.subarray(sealed.length - FILE_TAG_BYTES));
  const body = d.update(sealed.subarray(0, sealed.length - FILE_TAG_BYTES));
  try {
    d.final();
  } catch {
    throw new SealpostError(
      'FILE_CORRUPT',
      `chunk ${index} failed authentication: the file was altered, reordered, cut, or mixed with another file`,
    );
  }
  return body;
}

/**
 * Encrypt chunks `from` (default 0) up to `to` (exclusive, default all) of a plaintext of `plainSize` bytes.
 * `plain` must yield exactly those chunks' bytes
 * (use `rechunk`). Yields sealed chunks in order.
 */
export async function* encryptChunks(
  key: Uint8Array,
  plain: AsyncIterable<Uint8Array>,
  opts: { plainSize: number; chunkSize: number; from?: number; to?: number },
): AsyncGenerator<Buffer> {
  const total = chunkCount(opts.plainSize, opts.chunkSize);
  const end = opts.to ?? total;
  let index = opts.from ?? 0;
  let any = false;
  for await (const chunk of rechunk(plain, opts.chunkSize)) {
    if (index >= end) throw new SealpostError('FILE_CORRUPT', 'file grew while it was being encrypted');
    yield sealChunk(key, index, index === total - 1, chunk);
    index++;
    any = true;
  }
  if (!any && opts.plainSize === 0 && index === 0) {
    yield sealChunk(key, 0, true, new Uint8Array());
    index = 1;
  }
  if (index !== end) throw new SealpostError('FILE_CORRUPT', 'file shrank while it was being encrypted');
}

/** Decrypt a ciphertext stream, checking every chunk, the final flag and the exact length. */
export async function* decryptChunks(
  key: Uint8Array,
  sealed: AsyncIterable<Uint8Array>,
  opts: { plainSize: number; chunkSize: number },
): AsyncGenerator<Buffer> {
  const total = chunkCount(opts.plainSize, opts.chunkSize);
  const expected = cipherSizeOf(opts.plainSize, opts.chunkSize);
  let index = 0;
  let seen = 0;
  for await (const piece of rechunk(sealed, opts.chunkSize + FILE_TAG_BYTES)) {
    seen += piece.length;
    if (index >= total) throw new SealpostError('FILE_CORRUPT', `the blob is longer than the ${expected} bytes its reference states`);
    if (piece.length < plainChunkLength(index, opts.plainSize, opts.chunkSize) + FILE_TAG_BYTES) {
      throw new SealpostError('FILE_TRUNCATED', `the blob ends after ${seen} of ${expected} bytes (inside chunk ${index} of ${total})`);
    }
    yield openChunk(key, index, index === total - 1, piece);
    index++;
  }
  if (index < total || seen < expected) {
    throw new SealpostError('FILE_TRUNCATED', `the blob ends after ${seen} of ${expected} bytes (chunk ${index} of ${total} missing)`);
  }
}
