// Encrypted file transfer in a browser, in the format of protocol/files/file-format.ts (the CLI reads what this
// writes, and the other way round): a picked File is read as a stream, sealed chunk by chunk with WebCrypto
// AES-256-GCM and uploaded in parts; a download is read as a stream, checked and decrypted chunk by chunk into a
// writable stream (a file on disk), so memory stays at a few chunks whatever the file's size.
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
import { readAnswer, releaseBlobGrant, type FileSource, type FileTarget, type FileTransferPort, type HttpApi, type PickedFile, type Progress, type UploadResult } from '@sealpost/client/browser';

/** Chunks per upload request (Chromium streams request bodies only over HTTP/2, so each part is one Blob). */
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
    const hash = new WholeFileHash();
    try {
      opts.onProgress?.(0, file.size);
      let index = 0;
      let part: Blob[] = [];
      let partStart = 0;
      // One part on its way while the next is read and encrypted.
      let sending: Promise<void> = Promise.resolve();
      const send = async (part: Blob[]) => {
        // A Blob, not one big Uint8Array: Chromium hands a Blob body to its network process by reference, while a
        // large array is copied slowly (10 MiB/s against 160 MiB/s on loopback, bench:web).
        const body = new Blob(part);
        const res = await this.put(blob, partStart, body);
        partStart += body.size;
        if (res.received !== partStart) throw new SealpostError('PROTOCOL_ERROR', `server stored ${res.received} bytes, expected ${partStart}`);
      };
      const queue = async () => {
        await sending;
        sending = send(part);
        part = [];
      };
      // Chunk by chunk, each read as a slice of the file (a File is a snapshot: its size cannot change under us).
      // Chunk i+1 is read and encrypted (off the main thread) while chunk i goes to the hashing worker and upload.
      const seal = (i: number) => {
        const p = sealAt(i);
        p.catch(() => {}); // awaited in turn; not an unhandled rejection if the upload stops before it
        return p;
      };
      const sealAt = async (i: number) => {
        const plain = await file.slice(i * chunkSize, Math.min(file.size, (i + 1) * chunkSize)).arrayBuffer();
        if (plain.byteLength !== plainChunkLength(i, file.size, chunkSize)) throw new SealpostError('FILE_NOT_FOUND', `${file.name} changed while it was being read`);
        return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: bs(chunkNonce(i)), additionalData: bs(chunkAad(i, i === total - 1)) }, key, plain));
      };
      let next = seal(0);
      for (; index < total; index++) {
        const sealed = await next;
        if (index + 1 < total) next = seal(index + 1);
        // A Blob copies the bytes when made; then they move to the hashing worker without another copy.
        part.push(new Blob([sealed as Uint8Array<ArrayBuffer>]));
        hash.update(sealed, true);
        if (part.length === CHUNKS_PER_PART) await queue();
        opts.onProgress?.(Math.min(file.size, (index + 1) * chunkSize), file.size);
      }
      if (part.length > 0) await queue();
      await sending;
    } catch (err) {
      hash.close();
      await this.release(blob).catch(() => {});
      throw err;
    }
    const ref: FileRef = {
      id: blob,
      key: toBase64Url(keyBytes),
      hash: toBase64Url(await hash.digest()),
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
    const hash = new WholeFileHash();
    let index = 0;
    let seen = 0;
    let got = 0;
    // One write in flight while the next chunk is fetched and decrypted (at most two chunks held).
    let writing: Promise<void> = Promise.resolve();
    try {
      for await (const sealed of rechunk(res.body!, ref.chunkSize + FILE_TAG_BYTES)) {
        seen += sealed.length;
        if (index >= total) throw new SealpostError('FILE_CORRUPT', `the blob is longer than the ${expected} bytes its reference states`);
        if (sealed.length < plainChunkLength(index, ref.size, ref.chunkSize) + FILE_TAG_BYTES) {
          throw new SealpostError('FILE_TRUNCATED', `the blob ends after ${seen} of ${expected} bytes`);
        }
        let plain: Uint8Array;
        try {
          // WebCrypto copies its input when called: the chunk then moves to the hashing worker.
          const decrypting = crypto.subtle.decrypt({ name: 'AES-GCM', iv: bs(chunkNonce(index)), additionalData: bs(chunkAad(index, index === total - 1)) }, key, bs(sealed));
          hash.update(sealed, true);
          plain = new Uint8Array(await decrypting);
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
      if (!equal(await hash.digest(), expectedHash)) throw new SealpostError('FILE_CORRUPT', 'the downloaded blob does not match the hash in its reference');
      await writer.close();
    } catch (err) {
      hash.close();
      abort.abort();
      await writing.catch(() => {});
      await writer.abort(err).catch(() => {});
      throw err;
    }
  }

  release(blob: BlobId): Promise<void> {
    return releaseBlobGrant(this.api, blob);
  }

  async saveBytes(bytes: Uint8Array, target: FileTarget): Promise<void> {
    if (typeof target === 'string') throw new SealpostError('INVALID_INPUT', 'in a browser a file goes to a writable stream');
    const writer = target.getWriter();
    await writer.write(bytes);
    await writer.close();
  }

  private async put(blob: BlobId, offset: number, body: Blob): Promise<{ received: number; complete: boolean }> {
    let res: Response;
    try {
      res = await fetch(new URL(`/v1/blobs/${blob}?offset=${offset}`, this.api.baseUrl), {
        method: 'PUT',
        headers: { authorization: `Bearer ${await this.token()}`, 'content-type': 'application/octet-stream' },
        body,
      });
    } catch (err) {
      throw new SealpostError('SERVER_UNREACHABLE', `upload interrupted (${(err as Error).message})`, { cause: err });
    }
    return readAnswer(res);
  }
}

/**
 * SHA-256 over the whole ciphertext, fed chunk by chunk. WebCrypto hashes only whole buffers, and a SHA-256 on the
 * page's thread would hold up encryption and the network (JavaScript: 80 MiB/s; WebAssembly: 130 MiB/s here), so it
 * runs in a worker (hash-worker.ts): `update` hands a chunk over and returns at once. `transfer`: the caller no
 * longer needs the bytes (they move instead of being copied).
 */
class WholeFileHash {
  private readonly worker = new Worker(new URL('./hash-worker.ts', import.meta.url), { type: 'module' });

  update(bytes: Uint8Array, transfer = false): void {
    if (transfer) this.worker.postMessage({ t: 'update', bytes }, [bytes.buffer]);
    else this.worker.postMessage({ t: 'update', bytes });
  }

  digest(): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      this.worker.onmessage = (e: MessageEvent<{ digest?: Uint8Array; error?: string }>) => {
        if (e.data.digest) resolve(e.data.digest);
        else reject(new SealpostError('INTERNAL', `hashing failed: ${e.data.error ?? 'unknown'}`));
      };
      this.worker.onerror = (e) => reject(new SealpostError('INTERNAL', `hashing failed: ${e.message}`));
      this.worker.postMessage({ t: 'digest' });
    }).finally(() => this.close());
  }

  close(): void {
    this.worker.terminate();
  }
}

function picked(source: FileSource): PickedFile {
  if (typeof source === 'string') throw new SealpostError('INVALID_INPUT', 'in a browser a file to send is a picked or dropped file');
  return source;
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


function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

