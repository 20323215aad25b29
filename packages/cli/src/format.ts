// How messages, mail and sends read on a terminal. Other people's words (texts, subjects, file names) go through
// terminal-safe.ts: no control characters, and no line of theirs can pass for one of ours.
import type { ChatMessage, HeldInfo, MailSummary, Received } from '@sealpost/client';
import { formatSize } from '@sealpost/protocol';
import { indented, oneLine } from './terminal-safe.js';

export const when = (iso: string) => iso.replace('T', ' ').slice(0, 19);
/** A size as a person reads it (the one rule, in protocol). */
export const size = formatSize;
const fileList = (files: { id: string; name: string; size: number }[] | undefined) =>
  (files ?? []).map((f) => `\n    📎 ${oneLine(f.name)} (${size(f.size)}) id ${f.id}`).join('');

export function humanMessage(m: ChatMessage): string {
  return `[${when(m.sentAt)}] ${m.conversation} ${m.from}: ${indented(m.text)}${fileList(m.attachments)}`;
}

export function humanMail(m: MailSummary): string {
  const flag = m.unread ? '*' : ' ';
  return `${flag} ${m.id}  ${when(m.date)}  ${m.from} → ${[...m.to, ...m.cc].join(', ')}  ${oneLine(m.subject)}${m.attachments.length > 0 ? ` [${m.attachments.length} file(s)]` : ''}`;
}

export function humanReceived(r: Received): string {
  return r.type === 'mail' ? `[${when(r.date)}] mail ${r.id} from ${r.from}: ${oneLine(r.subject)}${fileList(r.attachments)}` : humanMessage(r);
}

/** What a send prints: where it went, or that it waits in the outbox, why and until when. */
export function sentLine(res: { id: string; held?: HeldInfo }, sent: string): string {
  if (!res.held) return sent;
  return `HELD ${res.id} in the outbox, not sent yet: ${res.held.reason}. It goes out by itself on a later command once accepted (sealpost outbox lists what waits).`;
}
