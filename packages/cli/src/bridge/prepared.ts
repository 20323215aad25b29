// What the bridge keeps of a rendered mail so a mail program's sync does not render it again: its size, header block,
// BODYSTRUCTURE and BODY, and — for a mail small enough with no attachment to fetch — the whole message. Kept in the
// device's encrypted profile beside the mail (client.derivedMail), never in the bridge's own unencrypted index, and
// made in the background as mail arrives (like a mail server indexing on delivery).
import { bodyStructure } from './imap-format.js';
import type { Rendered } from './render.js';

export interface Prepared {
  size: number;
  header: Buffer;
  bodyStructure: string;
  body: string;
  /** Whether the whole message was kept. */
  hasRaw: boolean;
  /** The whole message (decoded when first asked for: a header sync never needs it). */
  raw(): Buffer;
}

/** Whole messages up to this size are kept (most mail); larger ones are rendered when fetched. */
export const MAX_KEPT_RAW = 256 * 1024;

export function encodePrepared(r: Rendered, keepRaw: boolean): Uint8Array {
  const record = {
    v: 1,
    size: r.raw.length,
    header: r.root.header.toString('base64'),
    bs: bodyStructure(r.root, true),
    b: bodyStructure(r.root, false),
    ...(keepRaw && r.raw.length <= MAX_KEPT_RAW ? { raw: r.raw.toString('base64') } : {}),
  };
  return new TextEncoder().encode(JSON.stringify(record));
}

export function decodePrepared(bytes: Uint8Array): Prepared | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(bytes)) as { v: number; size: number; header: string; bs: string; b: string; raw?: string };
    if (r.v !== 1 || typeof r.size !== 'number' || typeof r.header !== 'string' || typeof r.bs !== 'string' || typeof r.b !== 'string') return undefined;
    let raw: Buffer | undefined;
    return {
      size: r.size,
      header: Buffer.from(r.header, 'base64'),
      bodyStructure: r.bs,
      body: r.b,
      hasRaw: typeof r.raw === 'string',
      raw: () => (raw ??= Buffer.from(r.raw ?? '', 'base64')),
    };
  } catch {
    return undefined; // made by another version: rendered again
  }
}
