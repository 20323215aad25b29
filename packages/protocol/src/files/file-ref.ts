// A reference to an encrypted file, carried inside an (encrypted) message: everything a recipient needs to fetch,
// check and decrypt it. The server never sees it.
import { z } from 'zod';
import { zBlobId, type BlobId } from '../ids.js';
import { DEFAULT_FILE_CHUNK_SIZE, MAX_FILE_CHUNK_SIZE, MIN_FILE_CHUNK_SIZE } from './file-format.js';

const b64urlOf = (bytes: number) => z.string().length(Math.ceil((bytes * 4) / 3)).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');

export const zFileRef = z
  .object({
    /** The blob id; also the attachment id users name in `sealpost files get`. */
    id: zBlobId,
    /** AES-256-GCM key, base64url. */
    key: b64urlOf(32),
    /** SHA-256 of the whole ciphertext blob, base64url. */
    hash: b64urlOf(32),
    /** Plaintext size in bytes. */
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    chunkSize: z.number().int().min(MIN_FILE_CHUNK_SIZE).max(MAX_FILE_CHUNK_SIZE).default(DEFAULT_FILE_CHUNK_SIZE),
    name: z.string().min(1).max(255),
    type: z.string().min(1).max(127),
  })
  .strict();

export type FileRef = z.output<typeof zFileRef> & { id: BlobId };

/** The part of a reference that is safe to show (no key, no hash). */
export interface AttachmentSummary {
  id: BlobId;
  name: string;
  size: number;
  type: string;
}

export function summariseFile(f: FileRef): AttachmentSummary {
  return { id: f.id, name: f.name, size: f.size, type: f.type };
}
