// Mail semantics that do not need I/O: subjects, reply and forward recipients, Message-IDs, the summary users see.
import type { OutsideMailInfo } from './outside-mail.js';
import { toBase64Url, randomBytes, summariseFile, type AttachmentSummary, type ConversationId, type FileRef, type Mail, type MessageId, type UserId } from '@sealpost/protocol';

export interface MailSummary {
  type: 'mail';
  id: MessageId;
  thread: ConversationId;
  from: UserId;
  to: UserId[];
  cc: UserId[];
  /** Only on the sender's copy, and on a Bcc recipient's own copy (naming just them). */
  bcc?: UserId[];
  subject: string;
  date: string;
  unread: boolean;
  messageId: string;
  inReplyTo?: string;
  references: string[];
  attachments: AttachmentSummary[];
  /** Mail from or to people outside the organisation: addresses, authentication results, encryption, warnings. */
  outside?: OutsideMailInfo;
}

export interface MailFull extends MailSummary {
  text: string;
  html: string | null;
}

/** Where the profile keeps what an app derived from a mail (client.derivedMail), so deletion and retention find it. */
export const derivedMailKey = (id: string): string => `derived-mail:${id}`;

export function newMailMessageId(domain: string): string {
  return `<${toBase64Url(randomBytes(18))}@${domain}>`;
}

export function replySubject(subject: string): string {
  return /^re:/i.test(subject.trim()) ? subject : `Re: ${subject}`;
}

export function forwardSubject(subject: string): string {
  return /^(fwd?|fw):/i.test(subject.trim()) ? subject : `Fwd: ${subject}`;
}

const unique = (xs: UserId[]) => [...new Set(xs)];

/**
 * Who a reply goes to. Reply: the sender (or, replying to one's own mail, its To). Reply-all: the sender and To as
 * To, and Cc as Cc, never oneself, never twice. Bcc recipients are never carried into a reply.
 */
export function replyRecipients(orig: Mail, me: UserId, all: boolean): { to: UserId[]; cc: UserId[] } {
  const sender = orig.from === me ? orig.to : [orig.from];
  if (!all) return { to: unique(sender).filter((u) => u !== me), cc: [] };
  const to = unique([...sender, ...orig.to]).filter((u) => u !== me);
  const cc = unique(orig.cc).filter((u) => u !== me && !to.includes(u));
  return { to, cc };
}

/** The quoted original below a forward note, as mail programs write it. */
export function forwardText(note: string | undefined, orig: Mail): string {
  const lines = [
    '---------- Forwarded message ----------',
    `From: ${orig.from}`,
    `Date: ${new Date(orig.sentAt).toUTCString()}`,
    `Subject: ${orig.subject}`,
    `To: ${orig.to.join(', ')}`,
    ...(orig.cc.length > 0 ? [`Cc: ${orig.cc.join(', ')}`] : []),
    '',
    orig.text,
  ];
  return note ? `${note}\n\n${lines.join('\n')}` : lines.join('\n');
}

export function mailSummary(m: Mail, thread: ConversationId, unread: boolean): MailSummary {
  return {
    type: 'mail',
    id: m.id,
    thread,
    from: m.from,
    to: m.to,
    cc: m.cc,
    ...(m.bcc ? { bcc: m.bcc } : {}),
    subject: m.subject,
    date: new Date(m.sentAt).toISOString(),
    unread,
    messageId: m.messageId,
    ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
    references: m.references,
    attachments: m.attachments.map((f) => summariseFile(f as FileRef)),
    ...('outside' in m ? { outside: (m as { outside: OutsideMailInfo }).outside } : {}),
  };
}
