// The archive's log (docs/legal-hold.md): one JSON line per event — each message stored, each export — chained by
// SHA-256 (each line's hash covers the previous line's hash), so a line changed, removed or reordered breaks every
// hash after it. It holds no content: ids, senders, members, times, and the SHA-256 of each message as stored.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, openSync, fsyncSync, writeSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SealpostError } from '@sealpost/protocol';

/** A line longer than this is not one the archive wrote. */
const MAX_LINE_CHARS = 64 * 1024;
const GENESIS = '0'.repeat(64);

export type LogEvent =
  | { event: 'enrolled'; user: string; device: string; server: string }
  | {
      event: 'stored';
      conversation: string;
      message: string;
      kind: 'chat' | 'mail';
      from: string;
      sentAt: string;
      /** Who was in the conversation when the message arrived (an export for a user takes what they were in). */
      members: string[];
      /** SHA-256 of the message as the archive's store keeps it (checked again on export). */
      sha256: string;
    }
  | { event: 'exported'; user: string; from: string | null; to: string | null; chats: number; mails: number; manifest: string };

export type LogEntry = LogEvent & { seq: number; at: string; prev: string; hash: string };

const hashOf = (prev: string, body: object) => createHash('sha256').update(`${prev}\n${JSON.stringify(body)}`).digest('hex');

export class ArchiveLog {
  private constructor(
    private readonly path: string,
    private last: string,
    private seq: number,
    /** Messages already stored, by id. */
    readonly stored: Set<string>,
  ) {}

  /** Read and check the whole chain (time linear in the log's size); ARCHIVE_LOG_BROKEN at the first line that does not hold. */
  static async open(path: string, onEntry?: (e: LogEntry) => void): Promise<ArchiveLog> {
    const lines = existsSync(path) ? createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity }) : [];
    return ArchiveLog.read(path, lines, onEntry);
  }

  /** The chain check itself, over the log's lines (`path` names where they are written from here on). */
  static async read(path: string, lines: AsyncIterable<string> | Iterable<string>, onEntry?: (e: LogEntry) => void): Promise<ArchiveLog> {
    let last = GENESIS;
    let seq = 0;
    const stored = new Set<string>();
    {
      for await (const line of lines) {
        const n = seq + 1;
        const broken = (why: string) => new SealpostError('ARCHIVE_LOG_BROKEN', `${path}, line ${n}: ${why}; the log was changed after it was written`);
        if (line.length > MAX_LINE_CHARS) throw broken('longer than any line the archive writes');
        let e: LogEntry;
        try {
          e = JSON.parse(line) as LogEntry;
        } catch {
          throw broken('not JSON');
        }
        if (typeof e !== 'object' || e === null || Array.isArray(e)) throw broken('not a log entry');
        const { hash, ...body } = e;
        if (body.seq !== n || body.prev !== last) throw broken(`out of order (expected entry ${n} after ${last.slice(0, 12)}…)`);
        if (hashOf(last, body) !== hash) throw broken('its hash does not match its content');
        last = hash;
        seq = n;
        if (e.event === 'stored') stored.add(e.message);
        onEntry?.(e);
      }
    }
    return new ArchiveLog(path, last, seq, stored);
  }

  /** Append one event, on disk (fsync) before this returns. */
  append(event: LogEvent, now = new Date()): LogEntry {
    const body = { seq: this.seq + 1, at: now.toISOString(), ...event, prev: this.last };
    const entry = { ...body, hash: hashOf(this.last, body) } as LogEntry;
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.last = entry.hash;
    this.seq = entry.seq;
    if (entry.event === 'stored') this.stored.add(entry.message);
    return entry;
  }

  get head(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.last };
  }
}
