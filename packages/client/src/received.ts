// How stored messages are handed to the caller: chat messages and mail summaries.
import { summariseFile, type FileRef, type Mail } from '@sealpost/protocol';
import { mailSummary } from './mail.js';
import type { MessageRow } from './profile-storage.js';
import type { ChatMessage, Received } from './types.js';

export function toChatMessage(m: MessageRow): ChatMessage {
  const files = (m.content.attachments ?? []) as FileRef[];
  return {
    type: 'message',
    conversation: m.conversation,
    id: m.id,
    from: m.senderUser,
    sentAt: new Date(m.sentAt).toISOString(),
    text: typeof m.content.text === 'string' ? m.content.text : '',
    ...(files.length > 0 ? { attachments: files.map(summariseFile) } : {}),
  };
}

export function toReceived(m: MessageRow): Received {
  return m.kind === 'mail' ? mailSummary(m.content as unknown as Mail, m.conversation, !m.read) : toChatMessage(m);
}
