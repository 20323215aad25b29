// The default BlobStore: files under <data>/blobs. Uploads grow in blobs/partial/<id>; a finished blob is fsynced
// and renamed into blobs/<2 chars>/<id>, then the directory is fsynced, so a blob is either complete or absent.
import { constants, createReadStream, mkdirSync } from 'node:fs';
import { open, rename, rm, stat, statfs, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SealpostError, formatSize, type BlobId } from '@sealpost/protocol';
import type { BlobStore } from './blob-store.js';

export function createFsBlobStore(root: string): BlobStore {
  const partialDir = join(root, 'partial');
  mkdirSync(partialDir, { recursive: true, mode: 0o700 });
  const partial = (id: BlobId) => join(partialDir, id);
  const finalDir = (id: BlobId) => join(root, id.slice(2, 4));
  const final = (id: BlobId) => join(finalDir(id), id);

  async function fsyncDir(dir: string): Promise<void> {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }

  return {
    async append(id, offset, data, maxBytes) {
      // Positional writes: O_APPEND would ignore the position on Linux.
      const h = await open(partial(id), constants.O_RDWR | constants.O_CREAT, 0o600);
      try {
        const { size } = await h.stat();
        if (size < offset) throw new SealpostError('UPLOAD_OFFSET_MISMATCH', `upload has ${size} bytes, not ${offset}`);
        // Discard what a broken earlier request left beyond the last durable length.
        if (size > offset) await truncate(partial(id), offset);
        let written = 0;
        for await (const chunk of data) {
          written += chunk.byteLength;
          if (written > maxBytes) throw new SealpostError('PAYLOAD_TOO_LARGE', `upload part is larger than ${formatSize(maxBytes)}`);
          await h.write(chunk, 0, chunk.byteLength, offset + written - chunk.byteLength);
        }
        await h.sync();
        return offset + written;
      } finally {
        await h.close();
      }
    },
    async finish(id) {
      mkdirSync(finalDir(id), { recursive: true, mode: 0o700 });
      await rename(partial(id), final(id));
      await fsyncDir(finalDir(id));
    },
    async size(id) {
      return (await stat(final(id)).catch(() => undefined))?.size;
    },
    read(id, start) {
      return createReadStream(final(id), { start, highWaterMark: 1024 * 1024 });
    },
    async delete(id) {
      await rm(partial(id), { force: true });
      await rm(final(id), { force: true });
    },
    async freeBytes() {
      const s = await statfs(root);
      return s.bavail * s.bsize;
    },
  };
}
