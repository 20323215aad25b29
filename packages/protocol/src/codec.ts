// The binary codec for frames and local records: CBOR (RFC 8949) via cbor-x, size-checked and checked against
// Sealpost's CBOR profile (cbor-profile.ts: no tags, definite lengths) before decoding.
import { Decoder, Encoder } from 'cbor-x';
import type { z } from 'zod';
import { SealpostError } from './errors.js';
import { checkCborProfile } from './cbor-profile.js';

// No record extension (stateful), plain maps as objects, Uint8Array in and out.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

export function encodeCbor(value: unknown): Uint8Array {
  const b = encoder.encode(value);
  // A plain Uint8Array view (not a Node Buffer), so `.slice()` copies as everywhere else.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Decode CBOR of at most `maxSize` bytes; `where` names the thing for the error message. Linear in the length:
 * the profile check refuses, before cbor-x does any work, the constructs it decodes in superlinear time.
 */
export function decodeCbor(bytes: Uint8Array, maxSize: number, where: string): unknown {
  if (bytes.length > maxSize) {
    throw new SealpostError('FRAME_TOO_LARGE', `${where}: length ${bytes.length} > ${maxSize}`);
  }
  checkCborProfile(bytes, where);
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new SealpostError('MALFORMED_FRAME', `${where}: not valid CBOR (${(err as Error).message})`);
  }
}

/** Validate an unknown value against a schema; the error names the first failing path. */
export function parseUnknown<S extends z.ZodType>(schema: S, data: unknown, where: string, code: 'INVALID_INPUT' | 'MALFORMED_FRAME' = 'INVALID_INPUT'): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
  throw new SealpostError(code, `${where}${path}: ${issue?.message ?? 'invalid'}`);
}
