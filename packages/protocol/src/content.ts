// Content: the typed, versioned structure inside every MLS application message (design.md, Content).
// Only clients ever see it. Unknown types decode to `unknown` so old clients skip new content instead of failing.
import { z } from 'zod';
import { decodeCbor, encodeCbor, parseUnknown } from './codec.js';
import { zMessageId } from './ids.js';
import { limits } from './limits.js';

export const zChatText = z
  .object({ v: z.literal(1), type: z.literal('text'), id: zMessageId, sentAt: z.number().int().min(0), text: z.string().max(limits.maxTextChars) })
  .strict();

export type ChatText = z.output<typeof zChatText>;
export type Content = ChatText | { v: number; type: 'unknown'; id: string; sentAt: number };

export function encodeContent(c: ChatText): Uint8Array {
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
  return { v: head.v, type: 'unknown', id: head.id, sentAt: head.sentAt };
}

/** What a conversation is, carried to joiners inside the encrypted GroupInfo. */
export const zConversationInfo = z.object({ v: z.literal(1), kind: z.enum(['chat', 'mail']) }).strict();
export type ConversationInfo = z.output<typeof zConversationInfo>;
export type ConversationKind = ConversationInfo['kind'];

export const encodeConversationInfo = (i: ConversationInfo): Uint8Array => encodeCbor(i);
export const decodeConversationInfo = (b: Uint8Array): ConversationInfo =>
  parseUnknown(zConversationInfo, decodeCbor(b, 1024, 'conversationInfo'), 'conversationInfo');
