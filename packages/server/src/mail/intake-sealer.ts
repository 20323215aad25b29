// Sealing outside mail as it arrives (design.md, Outside mail): the raw message is taken into memory while it is
// small; past MAX_INLINE_MAIL_BYTES it goes on into a blob, each 1 MiB chunk AES-256-GCM-encrypted (the file format
// of files/file-format.ts) under a fresh key before it is written. Nothing readable reaches the disk either way.
// Each recipient then gets an IntakeRecord sealed (HPKE) to their own intake key.
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  DEFAULT_FILE_CHUNK_SIZE,
  FILE_TAG_BYTES,
  INTAKE_KEY_BYTES,
  INTAKE_INFO,
  MAX_INLINE_MAIL_BYTES,
  chunkAad,
  chunkNonce,
  concatBytes,
  encodeIntakeRecord,
  encodeSealedIntake,
  newBlobId,
  parseMessageId,
  toBase64Url,
  intakeAad,
  utf8,
  type BlobId,
  type IntakeBody,
  type IntakeRecord,
  type MessageId,
  type UserId,
} from '@sealpost/protocol';
import { hpkeSealTo, hpkeSealToXWing } from '@sealpost/crypto';
import type { BlobStore } from '../blobs/blob-store.js';

async function* once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}

function sealChunk(key: Uint8Array, index: number, final: boolean, plain: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, chunkNonce(index));
  c.setAAD(chunkAad(index, final));
  const body = concatBytes(c.update(plain), c.final(), c.getAuthTag());
  if (body.length !== plain.length + FILE_TAG_BYTES) throw new Error('unexpected AES-GCM output length');
  return body;
}

/**
 * A Writable the message data is piped into. `size` counts every byte; `digest()` is an HMAC of the whole message
 * (keyed with a server secret, so it says nothing to someone without it) that names a retry of the same message.
 */
export class IntakeSealer extends Writable {
  size = 0;
  private readonly mac: ReturnType<typeof createHmac>;
  private inline: Buffer[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private blob: { id: BlobId; key: Uint8Array; index: number; written: number } | undefined;

  constructor(
    private readonly blobs: BlobStore,
    macKey: Uint8Array,
    private readonly maxBytes: number,
    private readonly chunkSize = DEFAULT_FILE_CHUNK_SIZE,
  ) {
    super({ highWaterMark: 256 * 1024 });
    this.mac = createHmac('sha256', macKey);
  }

  /** True once more than `maxBytes` arrived: the rest is read and dropped, and the message refused. */
  get tooLarge(): boolean {
    return this.size > this.maxBytes;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.tooLarge) return done();
    this.mac.update(chunk);
    if (!this.blob) {
      this.inline.push(chunk);
      if (this.size <= MAX_INLINE_MAIL_BYTES) return done();
      // Too large to travel inline: from here on it goes encrypted into a blob.
      this.blob = { id: newBlobId(), key: new Uint8Array(randomBytes(32)), index: 0, written: 0 };
      this.pending = Buffer.concat(this.inline);
      this.inline = [];
    } else {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    }
    this.flushFull().then(() => done(), done);
  }

  /** Writes every full chunk that is certainly not the last (more bytes follow it). */
  private async flushFull(): Promise<void> {
    const b = this.blob!;
    while (this.pending.length > this.chunkSize) {
      const sealed = sealChunk(b.key, b.index, false, this.pending.subarray(0, this.chunkSize));
      this.pending = this.pending.subarray(this.chunkSize);
      b.written = await this.blobs.append(b.id, b.written, once(sealed), sealed.length);
      b.index++;
    }
  }

  /** After the data ended: the body as a record carries it (a blob is written to the end and made durable). */
  async body(): Promise<IntakeBody> {
    if (!this.blob) return { kind: 'inline', raw: new Uint8Array(Buffer.concat(this.inline)) };
    const b = this.blob;
    const sealed = sealChunk(b.key, b.index, true, this.pending);
    b.written = await this.blobs.append(b.id, b.written, once(sealed), sealed.length);
    await this.blobs.finish(b.id);
    this.pending = Buffer.alloc(0);
    return { kind: 'blob', blob: b.id, key: b.key, size: this.size, chunkSize: this.chunkSize };
  }

  /** The blob this message went to, if any (to delete when the message is refused). */
  get blobId(): BlobId | undefined {
    return this.blob?.id;
  }

  digest(): Uint8Array {
    return new Uint8Array(this.mac.digest());
  }
}

/** The queue item id of this message for this recipient: the same for a sender's retry, different per recipient. */
export function intakeMessageId(digest: Uint8Array, macKey: Uint8Array, user: UserId): MessageId {
  const h = createHmac('sha256', macKey).update(digest).update(utf8(`\0${user}`)).digest();
  return parseMessageId(`in${toBase64Url(new Uint8Array(h.subarray(0, 24)))}`);
}

/**
 * The record for one recipient, sealed to their intake key: X25519 HPKE (native) for a 32-byte key, X-Wing HPKE (the
 * pq-hybrid suite's) for a post-quantum one — so outside mail recorded on its way in stays
 * unreadable to a quantum computer later too (docs/post-quantum.md).
 */
export async function sealIntake(intakeKey: Uint8Array, user: UserId, record: IntakeRecord): Promise<Uint8Array> {
  const plain = encodeIntakeRecord(record);
  if (intakeKey.length === INTAKE_KEY_BYTES.classic) return encodeSealedIntake(hpkeSealTo(intakeKey, INTAKE_INFO, intakeAad(user), plain));
  return encodeSealedIntake(await hpkeSealToXWing(intakeKey, INTAKE_INFO, intakeAad(user), plain));
}
