// WebSocket frames: CBOR maps with a type tag `t`. Client→server requests carry a request id `r` that the answer
// echoes. Every decoder checks size first, then shape (zod, strict), and says where it failed.
import { z } from 'zod';
import { decodeCbor, encodeCbor, parseUnknown } from './codec.js';
import { zBlobId, zConversationId, zDeviceId, zMessageId, zUserId } from './ids.js';
import { limits } from './limits.js';
import { errorCodes } from './errors.js';

const bytes = (max: number) =>
  z
    .instanceof(Uint8Array)
    .refine((b) => b.length <= max, `longer than ${max} bytes`)
    .transform((b): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
const reqId = z.number().int().min(0).max(2 ** 31);
const epoch = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const zAuthFrame = z.object({ t: z.literal('auth'), token: z.string().min(1).max(200) }).strict();

/**
 * An application message for everyone in the conversation at `e`. `b` names the blobs (encrypted files) it refers
 * to, so the server can let the recipients fetch them; the server learns that files are attached, not what they are.
 */
export const zSendFrame = z
  .object({
    t: z.literal('send'),
    r: reqId,
    c: zConversationId,
    e: epoch,
    id: zMessageId,
    p: bytes(limits.maxMlsMessageBytes),
    b: z.array(zBlobId).max(limits.maxBlobsPerMessage).optional(),
  })
  .strict();

/** A commit made at epoch `e`, with the Welcome for added devices and the devices it adds and removes. */
export const zCommitFrame = z
  .object({
    t: z.literal('commit'),
    r: reqId,
    c: zConversationId,
    e: epoch,
    id: zMessageId,
    p: bytes(limits.maxMlsMessageBytes),
    w: bytes(limits.maxMlsMessageBytes).optional(),
    add: z.array(zDeviceId).max(limits.maxDevicesPerCommit),
    remove: z.array(zDeviceId).max(limits.maxDevicesPerCommit),
  })
  .strict();

export const zFetchFrame = z
  .object({ t: z.literal('fetch'), r: reqId, after: z.number().int().min(0), limit: z.number().int().min(1).max(limits.maxFetchBatch) })
  .strict();

export const zAckFrame = z.object({ t: z.literal('ack'), seqs: z.array(seq).min(1).max(limits.maxAckBatch) }).strict();

export const zClientFrame = z.discriminatedUnion('t', [zAuthFrame, zSendFrame, zCommitFrame, zFetchFrame, zAckFrame]);
export type ClientFrame = z.output<typeof zClientFrame>;
export type SendFrame = z.output<typeof zSendFrame>;
export type CommitFrame = z.output<typeof zCommitFrame>;

/**
 * 'remove': an organisation-signed notice that a device was revoked; a member commits its removal.
 * 'mail-in': outside mail the SMTP gateway sealed to the user's mail intake key (mail/intake.ts).
 * 'group': an organisation-signed statement of who is in an identity provider's group (admin/group-membership.ts).
 * 'hold': an organisation-signed legal hold (or its release) on a member of the conversation (admin/legal-hold.ts):
 *   members check it against the key-transparency log and add or remove the archive device by an ordinary commit.
 */
export const queueKinds = ['app', 'commit', 'welcome', 'remove', 'mail-in', 'group', 'hold'] as const;
export type QueueKind = (typeof queueKinds)[number];

/** One entry of a device's queue, as delivered. */
export const zQueueItem = z
  .object({
    seq,
    c: zConversationId,
    k: z.enum(queueKinds),
    e: epoch,
    id: zMessageId,
    from: zDeviceId,
    fromUser: zUserId,
    at: z.number().int().min(0),
    p: bytes(limits.maxMlsMessageBytes),
  })
  .strict();
export type QueueItem = z.output<typeof zQueueItem>;

/**
 * A batch's items are checked one by one (decodeServerFrame), so one item a client cannot read is reported and
 * skipped instead of failing the whole batch, and with it every item behind it.
 */
const zRawBatch = z.object({ t: z.literal('batch'), r: reqId, items: z.array(z.unknown()).max(limits.maxFetchBatch), more: z.boolean() }).strict();

const zServerFrameRaw = z.discriminatedUnion('t', [
  z.object({ t: z.literal('auth-ok'), user: zUserId, device: zDeviceId }).strict(),
  z.object({ t: z.literal('ok'), r: reqId, seq: z.number().int().min(0).optional(), epoch: epoch.optional() }).strict(),
  z
    .object({
      t: z.literal('err'),
      r: reqId.optional(),
      code: z.enum(errorCodes),
      message: z.string().max(2000),
      epoch: epoch.optional(),
    })
    .strict(),
  zRawBatch,
  z.object({ t: z.literal('push'), item: zQueueItem }).strict(),
]);

/** A queue item in a batch that did not pass its schema: its seq when that much could be read, so it can be acked. */
export interface UnreadableItem {
  seq: number | undefined;
  reason: string;
}
export type BatchFrame = { t: 'batch'; r: number; items: QueueItem[]; more: boolean; unreadable?: UnreadableItem[] };
export type ServerFrame = Exclude<z.output<typeof zServerFrameRaw>, { t: 'batch' }> | BatchFrame;

export function encodeFrame(frame: ClientFrame | ServerFrame): Uint8Array {
  return encodeCbor(frame);
}

export function decodeClientFrame(data: Uint8Array): ClientFrame {
  return parseUnknown(zClientFrame, decodeCbor(data, limits.maxFrameBytes, 'frame'), 'frame', 'MALFORMED_FRAME');
}

export function decodeServerFrame(data: Uint8Array): ServerFrame {
  const frame = parseUnknown(zServerFrameRaw, decodeCbor(data, limits.maxServerFrameBytes, 'frame'), 'frame', 'MALFORMED_FRAME');
  if (frame.t !== 'batch') return frame;
  const items: QueueItem[] = [];
  const unreadable: UnreadableItem[] = [];
  frame.items.forEach((raw, i) => {
    const item = zQueueItem.safeParse(raw);
    if (item.success) return items.push(item.data);
    const seqOf = seq.safeParse((raw as { seq?: unknown } | null)?.seq);
    const issue = item.error.issues[0];
    unreadable.push({ seq: seqOf.success ? seqOf.data : undefined, reason: `frame.items.${i}${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}` });
  });
  return { t: 'batch', r: frame.r, items, more: frame.more, ...(unreadable.length > 0 ? { unreadable } : {}) };
}
