// BlobStore: where encrypted file bytes live. The server only ever holds ciphertext it cannot read.
import type { Readable } from 'node:stream';
import type { BlobId } from '@sealpost/protocol';

export interface BlobStore {
  /**
   * Append `data` at `offset` of an upload in progress (bytes after `offset` from a broken earlier attempt are
   * discarded first). Stops with PAYLOAD_TOO_LARGE after `maxBytes`. Returns the new durable length (fsynced).
   */
  append(id: BlobId, offset: number, data: AsyncIterable<Uint8Array>, maxBytes: number): Promise<number>;
  /** Make a fully received upload the blob, atomically (rename after fsync). */
  finish(id: BlobId): Promise<void>;
  /** Bytes of the complete blob as stored (undefined if absent). */
  size(id: BlobId): Promise<number | undefined>;
  /** A stream of the complete blob from byte `start`. */
  read(id: BlobId, start: number): Readable;
  /** Remove the blob or the upload in progress; no error if absent. */
  delete(id: BlobId): Promise<void>;
  /** Bytes free for an unprivileged writer on the volume the blobs are on. */
  freeBytes(): Promise<number>;
}
