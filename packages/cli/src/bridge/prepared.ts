// What the bridge keeps of a rendered mail so a mail program's sync does not render it again: its size, header block,
// BODYSTRUCTURE and BODY, and — for a mail small enough with no attachment — the whole message. Kept in the
// device's encrypted profile beside the mail (client.derivedMail), never in the bridge's own unencrypted index, and
// made in the background as mail arrives (like a mail server indexing on delivery). CBOR, so reading it back for a
// sync of thousands of mails is a copy, not a parse.
import { decodeCbor, encodeCbor } from '@sealpost/protocol';
import { bodyStructure } from './imap-format.js';
import type { Rendered } from './render.js';

export interface Prepared {
  size: number;
  header: Buffer;
  bodyStructure: string;
  body: string;
  /** Whether the whole message was kept. */
  hasRaw: boolean;
  raw(): Buffer;
  /** The whole message as its header block and its body (no copy). */
  parts(): [Buffer, Buffer];
}

/** Whole messages up to this size are kept (most mail); larger ones are rendered when fetched. */
export const MAX_KEPT_RAW = 256 * 1024;
const MAX_RECORD = MAX_KEPT_RAW + 128 * 1024;

/** v2: text with CRLF line ends (v1 kept Sealpost's LF; read by no version since, so made again). */
export function encodePrepared(r: Rendered): Uint8Array {
  const raw = r.raw && r.raw.length <= MAX_KEPT_RAW ? r.raw.subarray(r.root.header.length) : undefined;
  return encodeCbor(['sealpost-bridge-prepared-v2', r.size, r.root.header, bodyStructure(r.root, true), bodyStructure(r.root, false), raw ?? null]);
}

export function decodePrepared(bytes: Uint8Array): Prepared | undefined {
  let v: unknown;
  try {
    v = decodeCbor(bytes, MAX_RECORD, 'prepared');
  } catch {
    return undefined; // unreadable: rendered again
  }
  if (!Array.isArray(v) || v[0] !== 'sealpost-bridge-prepared-v2') return undefined; // another version's: rendered again
  const [, size, header, bs, b, rest] = v as [string, unknown, unknown, unknown, unknown, unknown];
  if (typeof size !== 'number' || !(header instanceof Uint8Array) || typeof bs !== 'string' || typeof b !== 'string') return undefined;
  const head = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  const body = rest instanceof Uint8Array ? Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength) : undefined;
  let raw: Buffer | undefined;
  const tail = body ?? Buffer.alloc(0);
  return { size, header: head, bodyStructure: bs, body: b, hasRaw: body !== undefined, raw: () => (raw ??= Buffer.concat([head, tail])), parts: () => [head, tail] };
}
