// Outside mail on its way in (design.md, Outside mail): what the SMTP gateway seals to a user's mail intake key.
// The gateway sees the message in memory while it arrives; what it stores and queues is only this, sealed
// (HPKE, RFC 9180, DHKEM(X25519, HKDF-SHA256) with AES-128-GCM). A small message travels inside the sealed record;
// a large one is a blob in the encrypted file format (files/file-format.ts) whose key is inside the record.
import { z } from 'zod';
import { concatBytes, utf8 } from '../bytes.js';
import { decodeCbor, encodeCbor, parseUnknown } from '../codec.js';
import { parseConversationId, parseDeviceId, zBlobId, type BlobId, type ConversationId, type DeviceId, type UserId } from '../ids.js';
import { MAX_FILE_CHUNK_SIZE, MIN_FILE_CHUNK_SIZE } from '../files/file-format.js';

/** Every user's inbound outside mail arrives in this pseudo-conversation (a queue item kind 'mail-in'). */
export const INTAKE_CONVERSATION: ConversationId = parseConversationId('c_outside-mail-intake___');
/** The sender named on queue items the gateway makes; a client never takes it for a device of anyone's. */
export const GATEWAY_DEVICE: DeviceId = parseDeviceId('dev_smtp-gateway__________');

/** Raw messages up to this size travel inside the sealed record; larger ones go to a blob. */
export const MAX_INLINE_MAIL_BYTES = 256 * 1024;
/** The sealed record: the inline message plus envelope and Authentication-Results. */
export const MAX_INTAKE_RECORD_BYTES = MAX_INLINE_MAIL_BYTES + 128 * 1024;
/** Absolute ceiling for one inbound message (a server's own limit may be lower: `--smtp-max-size`). */
export const MAX_INBOUND_MAIL_BYTES = 100 * 1024 * 1024;

export type IntakeBody =
  | { kind: 'inline'; raw: Uint8Array }
  | { kind: 'blob'; blob: BlobId; key: Uint8Array; size: number; chunkSize: number };

export interface IntakeRecord {
  /** SMTP MAIL FROM (empty for a bounce). */
  mailFrom: string;
  /** The RCPT TO address this copy was accepted for. */
  rcptTo: string;
  /** Milliseconds since the Unix epoch, by the gateway's clock. */
  receivedAt: number;
  /** A `Received:` line the gateway adds (client name and address) and the Authentication-Results header value. */
  received: string;
  authResults: string;
  body: IntakeBody;
}

const str = (max: number) => z.string().max(max);
const zBody = z.union([
  z.tuple([z.literal('inline'), z.instanceof(Uint8Array).refine((b) => b.length <= MAX_INLINE_MAIL_BYTES, `inline mail over ${MAX_INLINE_MAIL_BYTES} bytes`)]),
  z.tuple([
    z.literal('blob'),
    zBlobId,
    z.instanceof(Uint8Array).refine((b) => b.length === 32, 'file key must be 32 bytes'),
    z.number().int().min(0).max(MAX_INBOUND_MAIL_BYTES),
    z.number().int().min(MIN_FILE_CHUNK_SIZE).max(MAX_FILE_CHUNK_SIZE),
  ]),
]);
const zRecord = z.tuple([z.literal('sealpost-mail-intake-v1'), str(998), str(998), z.number().int().min(0), str(4096), str(16 * 1024), zBody]);

export function encodeIntakeRecord(r: IntakeRecord): Uint8Array {
  const body = r.body.kind === 'inline' ? ['inline', r.body.raw] : ['blob', r.body.blob, r.body.key, r.body.size, r.body.chunkSize];
  return encodeCbor(['sealpost-mail-intake-v1', r.mailFrom, r.rcptTo, r.receivedAt, r.received, r.authResults, body]);
}

export function decodeIntakeRecord(b: Uint8Array): IntakeRecord {
  const [, mailFrom, rcptTo, receivedAt, received, authResults, body] = parseUnknown(zRecord, decodeCbor(b, MAX_INTAKE_RECORD_BYTES, 'intakeRecord'), 'intakeRecord');
  return {
    mailFrom,
    rcptTo,
    receivedAt,
    received,
    authResults,
    body:
      body[0] === 'inline'
        ? { kind: 'inline', raw: new Uint8Array(body[1]) }
        : { kind: 'blob', blob: body[1], key: new Uint8Array(body[2]), size: body[3], chunkSize: body[4] },
  };
}

/** On the queue: the HPKE encapsulated key and the ciphertext of an encoded IntakeRecord. */
export interface SealedIntake {
  enc: Uint8Array;
  ct: Uint8Array;
}

const zSealed = z.tuple([
  z.literal('sealpost-intake-sealed-v1'),
  // The HPKE encapsulation: X25519 (32 bytes) or X-Wing (1,120 bytes), as the recipient's intake key is.
  z.instanceof(Uint8Array).refine((b) => b.length === 32 || b.length === 1120, 'enc must be 32 (X25519) or 1,120 (X-Wing) bytes'),
  z.instanceof(Uint8Array).refine((b) => b.length <= MAX_INTAKE_RECORD_BYTES + 16, 'sealed intake too long'),
]);

export const encodeSealedIntake = (s: SealedIntake): Uint8Array => encodeCbor(['sealpost-intake-sealed-v1', s.enc, s.ct]);

export function decodeSealedIntake(b: Uint8Array): SealedIntake {
  const [, enc, ct] = parseUnknown(zSealed, decodeCbor(b, MAX_INTAKE_RECORD_BYTES + 1024, 'sealedIntake'), 'sealedIntake');
  return { enc: new Uint8Array(enc), ct: new Uint8Array(ct) };
}

/** HPKE info (RFC 9180 §5.1): binds the ciphertext to its purpose. */
export const INTAKE_INFO = utf8('Sealpost v1 mail intake');
/** HPKE aad: binds the ciphertext to the user it was sealed for, so it cannot be queued to someone else. */
export const intakeAad = (user: UserId): Uint8Array => concatBytes(utf8('sealpost-intake-aad-v1\0'), utf8(user));
