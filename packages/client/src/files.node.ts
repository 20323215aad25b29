// Encrypted file transfer in Node: encrypt while reading the file and upload in parts that resume after an
// interruption; download while decrypting, verifying the hash, into a temporary file renamed into place at the end.
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { randomBytes, createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  DEFAULT_FILE_CHUNK_SIZE,
  FILE_TAG_BYTES,
  SealpostError,
  cipherSizeOf,
  fromBase64Url,
  toBase64Url,
  type BlobId,
  type FileRef,
} from '@sealpost/protocol';
import { decryptChunks, encryptChunks } from './file-cipher.node.js';
import { readAnswer, releaseBlobGrant, type HttpApi } from './http-api.js';
import type { ProfileStorage } from './profile-storage.js';
import type { FileSource, FileTarget, FileTransferPort, Progress, UploadResult } from './platform.js';
import { mimeTypeOf } from './mime.js';

/** Chunks per upload request: a broken request costs at most this much to resend. */
const CHUNKS_PER_PART = 8;

export class FileTransfer implements FileTransferPort {
  constructor(
    private readonly api: HttpApi,
    private readonly store: ProfileStorage,
    private readonly token: () => Promise<string>,
    private readonly testHooks: { afterUploadPart?: (part: number) => void } = {},
  ) {}

  /** Check a local file can be sent: it exists, is a regular file, is readable. */
  checkReadable(source: FileSource): Promise<{ size: number }> {
    return FileTransfer.checkReadable(pathOf(source));
  }

  static async checkReadable(path: string): Promise<{ size: number }> {
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new SealpostError('FILE_NOT_FOUND', `${path} is not a regular file`);
      const h = await open(path, 'r');
      await h.close();
      return { size: st.size };
    } catch (err) {
      if (err instanceof SealpostError) throw err;
      throw new SealpostError('FILE_NOT_FOUND', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  async upload(file: FileSource, opts: { name?: string; type?: string; onProgress?: Progress } = {}): Promise<UploadResult> {
    const path = pathOf(file);
    const abs = resolve(path);
    const st = await stat(abs).catch(() => undefined);
    if (!st?.isFile()) throw new SealpostError('FILE_NOT_FOUND', `cannot read ${path}`);
    const chunkSize = DEFAULT_FILE_CHUNK_SIZE;
    const cipherSize = cipherSizeOf(st.size, chunkSize);
    const sealedChunk = chunkSize + FILE_TAG_BYTES;

    // Resume an interrupted upload of the same file (same path, size and modification time).
    let pending = this.store.findUpload(abs, st.size, st.mtimeMs);
    let received = 0;
    if (pending) {
      const status = await this.api
        .request<{ received: number; complete: boolean }>('GET', `/v1/blobs/${pending.blob}/status`)
        .catch((err: unknown) => {
          if (err instanceof SealpostError && err.code === 'BLOB_NOT_FOUND') return undefined;
          throw err;
        });
      if (status && status.received % sealedChunk === 0 && !status.complete) received = status.received;
      else {
        // Complete already (its last answer was lost) or unusable: start over, and let the old blob go.
        if (status) await this.release(pending.blob).catch(() => {});
        this.store.deleteUpload(pending.blob);
        pending = undefined;
      }
    }
    if (!pending) {
      const created = await this.api.request<{ id: BlobId }>('POST', '/v1/blobs', { size: cipherSize });
      pending = { blob: created.id, key: new Uint8Array(randomBytes(32)), chunkSize };
      this.store.putUpload(abs, st.size, st.mtimeMs, pending.blob, pending.key, chunkSize);
    }
    const { blob, key } = pending;
    const total = Math.max(1, Math.ceil(st.size / chunkSize));
    const startChunk = received / sealedChunk;

    // The hash covers the whole ciphertext, so chunks uploaded before are re-encrypted (not re-sent) to feed it.
    const hash = createHash('sha256');
    if (startChunk > 0) {
      const prefix = createReadStream(abs, { start: 0, end: startChunk * chunkSize - 1, highWaterMark: chunkSize });
      for await (const sealed of encryptChunks(key, prefix, { plainSize: st.size, chunkSize, to: startChunk })) hash.update(sealed);
    }
    const resumedBytes = Math.min(st.size, startChunk * chunkSize);
    opts.onProgress?.(resumedBytes, st.size);

    let chunk = startChunk;
    let part = 0;
    const source = st.size === 0 ? Readable.from([]) : createReadStream(abs, { start: startChunk * chunkSize, highWaterMark: chunkSize });
    const sealedChunks = encryptChunks(key, source, { plainSize: st.size, chunkSize, from: startChunk })[Symbol.asyncIterator]();
    while (chunk < total) {
      const partEnd = Math.min(total, chunk + CHUNKS_PER_PART);
      const first = chunk;
      const body = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          if (chunk >= partEnd) return controller.close();
          const next = await sealedChunks.next();
          if (next.done) return controller.close();
          hash.update(next.value);
          controller.enqueue(next.value);
          chunk++;
          opts.onProgress?.(Math.min(st.size, chunk * chunkSize), st.size);
        },
      });
      const res = await this.put(blob, first * sealedChunk, body);
      if (res.received !== chunk * sealedChunk && !(chunk === total && res.received === cipherSize)) {
        throw new SealpostError('PROTOCOL_ERROR', `server stored ${res.received} bytes, expected ${chunk * sealedChunk}`);
      }
      this.testHooks.afterUploadPart?.(part++);
    }
    this.store.deleteUpload(blob);
    const ref: FileRef = {
      id: blob,
      key: toBase64Url(key),
      hash: toBase64Url(new Uint8Array(hash.digest())),
      size: st.size,
      chunkSize,
      name: opts.name ?? basename(abs),
      type: opts.type ?? mimeTypeOf(abs),
    };
    return { ref, resumedBytes };
  }

  private async put(blob: BlobId, offset: number, body: ReadableStream<Uint8Array>): Promise<{ received: number; complete: boolean }> {
    let res: Response;
    try {
      res = await fetch(new URL(`/v1/blobs/${blob}?offset=${offset}`, this.api.baseUrl), {
        method: 'PUT',
        headers: { authorization: `Bearer ${await this.token()}`, 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit);
    } catch (err) {
      if (err instanceof SealpostError) throw err;
      throw new SealpostError('SERVER_UNREACHABLE', `upload interrupted (${(err as Error).message}); run the command again to resume`, { cause: err });
    }
    return readAnswer(res);
  }

  /**
   * Download, verify and decrypt a file to `out`: a path (written to a temporary name first, then renamed), or a
   * stream that gets each chunk as soon as it is decrypted and authenticated (the IMAP bridge answers with it). The
   * stream is closed when the whole file matched its reference's hash, and aborted with the error otherwise.
   */
  async download(ref: FileRef, target: FileTarget, opts: { onProgress?: Progress; overwrite?: boolean } = {}): Promise<void> {
    const key = fromBase64Url(ref.key);
    const expectedHash = fromBase64Url(ref.hash);
    if (!key || key.length !== 32 || !expectedHash) throw new SealpostError('FILE_CORRUPT', 'attachment reference is malformed');
    if (typeof target === 'string') await checkTarget(target, opts.overwrite ?? false);
    let res: Response;
    // Aborted when we stop reading early (a corrupt chunk), so the connection closes instead of lingering half-read.
    const abort = new AbortController();
    try {
      res = await fetch(new URL(`/v1/blobs/${ref.id}`, this.api.baseUrl), { headers: { authorization: `Bearer ${await this.token()}` }, signal: abort.signal });
    } catch (err) {
      throw new SealpostError('SERVER_UNREACHABLE', `cannot reach ${this.api.baseUrl} (${(err as Error).message})`, { cause: err });
    }
    if (!res.ok || !res.body) await readAnswer(res);
    const hash = createHash('sha256');
    let got = 0;
    const body = res.body!;
    async function* hashed(): AsyncGenerator<Uint8Array> {
      try {
        for await (const piece of body as unknown as AsyncIterable<Uint8Array>) {
          hash.update(piece);
          yield piece;
        }
      } catch (err) {
        // The server closed early (a truncated blob on its disk, a dropped connection): report what arrived.
        if (err instanceof SealpostError) throw err;
      }
    }
    const plainChunks = () => decryptChunks(key, hashed(), { plainSize: ref.size, chunkSize: ref.chunkSize });
    const verify = () => {
      if (!Buffer.from(hash.digest()).equals(Buffer.from(expectedHash))) {
        throw new SealpostError('FILE_CORRUPT', 'the downloaded blob does not match the hash in its reference');
      }
    };
    if (typeof target !== 'string') {
      const writer = target.getWriter();
      try {
        for await (const plain of plainChunks()) {
          await writer.ready;
          await writer.write(plain);
          got += plain.length;
          opts.onProgress?.(got, ref.size);
        }
        verify();
        await writer.close();
      } catch (err) {
        abort.abort();
        await writer.abort(err).catch(() => {});
        throw err;
      }
      return;
    }
    const out = target;
    const tmp = `${resolve(out)}.sealpost-partial`;
    const file = createWriteStream(tmp, { mode: 0o600 });
    try {
      for await (const plain of plainChunks()) {
        if (!file.write(plain)) await new Promise<void>((r) => file.once('drain', () => r()));
        got += plain.length;
        opts.onProgress?.(got, ref.size);
      }
      verify();
      await new Promise<void>((ok, fail) => file.end((err?: Error | null) => (err ? fail(err) : ok())));
      const h = await open(tmp, 'r');
      await h.sync();
      await h.close();
      await rename(tmp, resolve(out));
    } catch (err) {
      abort.abort();
      file.destroy();
      await rm(tmp, { force: true });
      throw err;
    }
  }

  release(blob: BlobId): Promise<void> {
    return releaseBlobGrant(this.api, blob);
  }

  async saveBytes(bytes: Uint8Array, target: FileTarget, opts: { overwrite?: boolean } = {}): Promise<void> {
    if (typeof target !== 'string') {
      const writer = target.getWriter();
      await writer.write(bytes);
      await writer.close();
      return;
    }
    await checkTarget(target, opts.overwrite ?? false);
    const tmp = `${resolve(target)}.sealpost-partial`;
    try {
      const h = await open(tmp, 'w', 0o600);
      try {
        await h.writeFile(bytes);
        await h.sync();
      } finally {
        await h.close();
      }
      await rename(tmp, resolve(target));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}


/** Where a download goes must be a file in a folder that exists: said before anything is downloaded. */
async function checkTarget(out: string, overwrite: boolean): Promise<void> {
  const target = resolve(out);
  const there = await stat(target).catch(() => undefined);
  if (there?.isDirectory()) throw new SealpostError('INVALID_INPUT', `--out ${out}: is a folder; name a file (e.g. ${join(out, 'name')})`);
  if (there && !overwrite) throw new SealpostError('INVALID_INPUT', `--out ${out}: a file is already there; give --force to replace it, or another name`);
  const folder = await stat(dirname(target)).catch(() => undefined);
  if (!folder?.isDirectory()) throw new SealpostError('INVALID_INPUT', `--out ${out}: the folder ${dirname(target)} does not exist`);
}

function pathOf(source: FileSource): string {
  if (typeof source !== 'string') throw new SealpostError('INVALID_INPUT', 'in Node a file to send is named by its path');
  return source;
}
