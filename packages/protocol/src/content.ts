// Content: the typed, versioned structure inside every MLS application message (design.md, Content).
// Only clients ever see it. Unknown types decode to `unknown` so old clients skip new content instead of failing.
import { z } from 'zod';
import { decodeCbor, encodeCbor, parseUnknown } from './codec.js';
import { zMessageId, zUserId } from './ids.js';
import { limits } from './limits.js';
import { zFileRef } from './files/file-ref.js';

const attachments = z.array(zFileRef).max(limits.maxAttachments);

export const zChatText = z
  .object({
    v: z.literal(1),
    type: z.literal('text'),
    id: zMessageId,
    sentAt: z.number().int().min(0),
    text: z.string().max(limits.maxTextChars),
    attachments: attachments.optional(),
  })
  .strict();

/** RFC 5322 msg-id as we generate and accept it: `<local@domain>`. */
export const zMailMessageId = z.string().min(3).max(250).regex(/^<[^<>\s]+@[^<>\s]+>$/, 'must look like <id@domain>');

export const zMail = z
  .object({
    v: z.literal(1),
    type: z.literal('mail'),
    id: zMessageId,
    sentAt: z.number().int().min(0),
    messageId: zMailMessageId,
    inReplyTo: zMailMessageId.optional(),
    references: z.array(zMailMessageId).max(100),
    from: zUserId,
    to: z.array(zUserId).max(limits.maxMailRecipients),
    cc: z.array(zUserId).max(limits.maxMailRecipients),
    /** Present only in a Bcc recipient's own copy, naming that recipient. */
    bcc: z.array(zUserId).max(1).optional(),
    /** For a Bcc copy: the id of the message everyone else got. */
    copyOf: zMessageId.optional(),
    subject: z.string().max(limits.maxSubjectChars),
    text: z.string().max(limits.maxMailBodyChars),
    html: z.string().max(limits.maxMailBodyChars).optional(),
    attachments,
  })
  .strict();

/**
 * A conversation's new name, sent to its members like a message (older clients skip it as unknown content). No
 * control characters: a name is shown on one line.
 */
export const zRename = z
  .object({
    v: z.literal(1),
    type: z.literal('rename'),
    id: zMessageId,
    sentAt: z.number().int().min(0),
    name: z
      .string()
      .max(limits.maxConversationNameChars)
      .refine((n) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(n), 'no control characters or line breaks'),
  })
  .strict();

export type ChatText = z.output<typeof zChatText>;
export type Mail = z.output<typeof zMail>;
export type Rename = z.output<typeof zRename>;
export type Content = ChatText | Mail | Rename | { v: number; type: 'unknown'; id: string; sentAt: number };

export function encodeContent(c: ChatText | Mail | Rename): Uint8Array {
  return encodeCbor(c);
}

export function decodeContent(bytes: Uint8Array): Content {
  const raw = decodeCbor(bytes, limits.maxMlsMessageBytes, 'content');
  const head = parseUnknown(
    z.object({ v: z.number().int(), type: z.string().max(40), id: zMessageId, sentAt: z.number().int().min(0) }).loose(),
    raw,
    'content',
  );
  if (head.type === 'text' && head.v === 1) return parseUnknown(zChatText, raw, 'content');
  if (head.type === 'mail' && head.v === 1) return parseUnknown(zMail, raw, 'content');
  if (head.type === 'rename' && head.v === 1) return parseUnknown(zRename, raw, 'content');
  return { v: head.v, type: 'unknown', id: head.id, sentAt: head.sentAt };
}

/** What a conversation is, carried to joiners inside the encrypted GroupInfo. */
export const zConversationInfo = z.object({ v: z.literal(1), kind: z.enum(['chat', 'mail']) }).strict();
export type ConversationInfo = z.output<typeof zConversationInfo>;
export type ConversationKind = ConversationInfo['kind'];

export const encodeConversationInfo = (i: ConversationInfo): Uint8Array => encodeCbor(i);
export const decodeConversationInfo = (b: Uint8Array): ConversationInfo =>
  parseUnknown(zConversationInfo, decodeCbor(b, 1024, 'conversationInfo'), 'conversationInfo');
