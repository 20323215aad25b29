// Encrypted file transfer in a browser, in the format of protocol/files/file-format.ts (the CLI reads what this
// writes, and the other way round): a picked File is read as a stream, sealed chunk by chunk with WebCrypto
// AES-256-GCM and uploaded in parts; a download is read as a stream, checked and decrypted chunk by chunk into a
// writable stream (a file on disk), so memory stays at a few chunks whatever the file's size.
import { sha256 } from '@noble/hashes/sha2.js';
import {
  DEFAULT_FILE_CHUNK_SIZE,
  FILE_TAG_BYTES,
  SealpostError,
  chunkAad,
  chunkCount,
  chunkNonce,
  cipherSizeOf,
  fromBase64Url,
  plainChunkLength,
  toBase64Url,
  type BlobId,
  type FileRef,
} from '@sealpost/protocol';
import { bs } from './buffer-source.js';
import { readAnswer, type FileSource, type FileTarget, type FileTransferPort, type HttpApi, type PickedFile, type Progress, type UploadResult } from '@sealpost/client/browser';

/** Chunks per upload request (Chromium streams request bodies only over HTTP/2, so each part is one buffer). */
const CHUNKS_PER_PART = 8;

export class BrowserFileTransfer implements FileTransferPort {
  constructor(
    private readonly api: HttpApi,
    private readonly token: () => Promise<string>,
  ) {}

  async checkReadable(source: FileSource): Promise<{ size: number }> {
    return { size: picked(source).size };
  }

  async upload(source: FileSource, opts: { name?: string; type?: string; onProgress?: Progress } = {}): Promise<UploadResult> {
    const file = picked(source);
    const chunkSize = DEFAULT_FILE_CHUNK_SIZE;
    const total = chunkCount(file.size, chunkSize);
    const keyBytes = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const key = await crypto.subtle.importKey('raw', bs(keyBytes), 'AES-GCM', false, ['encrypt']);
    const created = await this.api.request<{ id: BlobId }>('POST', '/v1/blobs', { size: cipherSizeOf(file.size, chunkSize) });
    const blob = created.id;
    const hash = sha256.create();
    try {
      opts.onProgress?.(0, file.size);
      let index = 0;
      let part: Uint8Array[] = [];
      let partStart = 0;
      const send = async () => {
        const body = concat(part);
        const res = await this.put(blob, partStart, body);
        partStart += body.length;
        if (res.received !== partStart) throw new SealpostError('PROTOCOL_ERROR', `server stored ${res.received} bytes, expected ${partStart}`);
        part = [];
      };
      for await (const plain of rechunk(file.size === 0 ? emptyStream() : file.stream(), chunkSize)) {
        if (index >= total) throw new SealpostError('FILE_CORRUPT', 'the file grew while it was being encrypted');
        const sealed = new Uint8Array(
          await crypto.subtle.encrypt({ name: 'AES-GCM', iv: bs(chunkNonce(index)), additionalData: bs(chunkAad(index, index === total - 1)) }, key, bs(plain)),
        );
        hash.update(sealed);
        part.push(sealed);
        index++;
        if (part.length === CHUNKS_PER_PART) await send();
        opts.onProgress?.(Math.min(file.size, index * chunkSize), file.size);
      }
      if (file.size === 0 && index === 0) {
        const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: bs(chunkNonce(0)), additionalData: bs(chunkAad(0, true)) }, key, new Uint8Array()));
        hash.update(sealed);
        part.push(sealed);
        index = 1;
      }
      if (index !== total) throw new SealpostError('FILE_CORRUPT', 'the file shrank while it was being encrypted');
      if (part.length > 0) await send();
    } catch (err) {
      await this.release(blob).catch(() => {});
      throw err;
    }
    const ref: FileRef = {
      id: blob,
      key: toBase64Url(keyBytes),
      hash: toBase64Url(hash.digest()),
      size: file.size,
      chunkSize,
      name: (opts.name ?? file.name).slice(0, 255) || 'file',
      type: opts.type ?? (file.type || 'application/octet-stream'),
    };
    keyBytes.fill(0);
    return { ref, resumedBytes: 0 };
  }

  async download(ref: FileRef, target: FileTarget, opts: { onProgress?: Progress } = {}): Promise<void> {
    if (typeof target === 'string') throw new SealpostError('INVALID_INPUT', 'in a browser a download goes to a writable stream');
    const keyBytes = fromBase64Url(ref.key);
    const expectedHash = fromBase64Url(ref.hash);
    if (!keyBytes || keyBytes.length !== 32 || !expectedHash) throw new SealpostError('FILE_CORRUPT', 'attachment reference is malformed');
    const key = await crypto.subtle.importKey('raw', bs(keyBytes), 'AES-GCM', false, ['decrypt']);
    const abort = new AbortController();
    let res: Response;
    try {
      res = await fetch(new URL(`/v1/blobs/${ref.id}`, this.api.baseUrl), { headers: { authorization: `Bearer ${await this.token()}` }, signal: abort.signal });
    } catch (err) {
      throw new SealpostError('SERVER_UNREACHABLE', `cannot reach ${this.api.baseUrl} (${(err as Error).message})`, { cause: err });
    }
    if (!res.ok || !res.body) await readAnswer(res);
    const writer = target.getWriter();
    const total = chunkCount(ref.size, ref.chunkSize);
    const expected = cipherSizeOf(ref.size, ref.chunkSize);
    const hash = sha256.create();
    let index = 0;
    let seen = 0;
    let got = 0;
    // One write in flight while the next chunk is fetched and decrypted (at most two chunks held).
    let writing: Promise<void> = Promise.resolve();
    try {
      for await (const sealed of rechunk(res.body!, ref.chunkSize + FILE_TAG_BYTES)) {
        seen += sealed.length;
        hash.update(sealed);
        if (index >= total) throw new SealpostError('FILE_CORRUPT', `the blob is longer than the ${expected} bytes its reference states`);
        if (sealed.length < plainChunkLength(index, ref.size, ref.chunkSize) + FILE_TAG_BYTES) {
          throw new SealpostError('FILE_TRUNCATED', `the blob ends after ${seen} of ${expected} bytes`);
        }
        let plain: Uint8Array;
        try {
          plain = new Uint8Array(
            await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bs(chunkNonce(index)), additionalData: bs(chunkAad(index, index === total - 1)) }, key, bs(sealed)),
          );
        } catch {
          throw new SealpostError('FILE_CORRUPT', `chunk ${index} failed authentication: the file was altered, reordered, cut, or mixed with another file`);
        }
        await writing;
        writing = writer.write(plain);
        got += plain.length;
        index++;
        opts.onProgress?.(got, ref.size);
      }
      if (index < total || seen < expected) throw new SealpostError('FILE_TRUNCATED', `the blob ends after ${seen} of ${expected} bytes`);
      await writing;
      if (!equal(hash.digest(), expectedHash)) throw new SealpostError('FILE_CORRUPT', 'the downloaded blob does not match the hash in its reference');
      await writer.close();
    } catch (err) {
      abort.abort();
      await writing.catch(() => {});
      await writer.abort(err).catch(() => {});
      throw err;
    }
  }

  async release(blob: BlobId): Promise<void> {
    await this.api.request('DELETE', `/v1/blobs/${blob}/grant`).catch((err: unknown) => {
      if (err instanceof SealpostError && err.code === 'BLOB_NOT_FOUND') return;
      throw err;
    });
  }

  private async put(blob: BlobId, offset: number, body: Uint8Array): Promise<{ received: number; complete: boolean }> {
    let res: Response;
    try {
      res = await fetch(new URL(`/v1/blobs/${blob}?offset=${offset}`, this.api.baseUrl), {
        method: 'PUT',
        headers: { authorization: `Bearer ${await this.token()}`, 'content-type': 'application/octet-stream' },
        body: body as BodyInit,
      });
    } catch (err) {
      throw new SealpostError('SERVER_UNREACHABLE', `upload interrupted (${(err as Error).message})`, { cause: err });
    }
    return readAnswer(res);
  }
}

function picked(source: FileSource): PickedFile {
  if (typeof source === 'string') throw new SealpostError('INVALID_INPUT', 'in a browser a file to send is a picked or dropped file');
  return source;
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

/** Re-cut a byte stream into pieces of exactly `size` bytes (the last may be shorter). */
async function* rechunk(stream: ReadableStream<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let buf = new Uint8Array(size);
  let have = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let piece = value;
      while (piece.length > 0) {
        const take = Math.min(size - have, piece.length);
        buf.set(piece.subarray(0, take), have);
        have += take;
        piece = piece.subarray(take);
        if (have === size) {
          yield buf;
          buf = new Uint8Array(size);
          have = 0;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (have > 0) yield buf.subarray(0, have);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

