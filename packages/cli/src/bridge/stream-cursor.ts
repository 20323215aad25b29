// A position in a streamed part that a FETCH can go on from. Mail programs fetch large parts in pieces
// (BODY.PEEK[2]<0.65536>, then <65536.65536>, …: imapflow, Thunderbird); a part holding a file is decrypted as it
// downloads, so starting each piece from the beginning would download and decrypt the file once per piece — quadratic.
// The cursor keeps the stream where the last piece ended, so the next piece goes on from there.
import type { Readable } from 'node:stream';

/** A cursor nobody asked to go on from for this long gives its download back. */
const IDLE_MS = 30_000;

export class StreamCursor {
  private readonly it: AsyncIterator<unknown>;
  private leftover: Buffer | undefined;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  /** Bytes of the stream already handed out or skipped. */
  at = 0;

  constructor(
    readonly key: string,
    private readonly stream: Readable,
  ) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Whether `length` bytes from `from` can be read by going on from here. */
  reaches(key: string, from: number): boolean {
    return !this.ended && key === this.key && from >= this.at;
  }

  /**
   * Hands `write` the bytes from `from` (at or after where the cursor is) for at most `length` bytes, waiting for
   * each write; returns how many were written (fewer when the stream ended or failed).
   */
  async copy(from: number, length: number, write: (chunk: Buffer) => Promise<void>): Promise<number> {
    clearTimeout(this.timer);
    let skip = from - this.at;
    let left = length;
    while (left > 0) {
      const chunk = await this.next();
      if (!chunk) break;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        this.at += chunk.length;
        continue;
      }
      const start = skip;
      const end = Math.min(chunk.length, start + left);
      skip = 0;
      if (end < chunk.length) this.leftover = chunk.subarray(end);
      this.at += end;
      left -= end - start;
      await write(chunk.subarray(start, end));
    }
    this.timer = setTimeout(() => this.close(), IDLE_MS);
    this.timer.unref();
    return length - left;
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.leftover) {
      const l = this.leftover;
      this.leftover = undefined;
      return l;
    }
    if (this.ended) return undefined;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return undefined;
    }
    return r.value as Buffer;
  }

  close(): void {
    clearTimeout(this.timer);
    this.ended = true;
    this.stream.destroy();
  }
}
