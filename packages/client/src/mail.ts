// Mail semantics that do not need I/O: subjects, reply and forward recipients, Message-IDs, the summary users see.
import type { OutsideMailInfo } from './outside-mail.js';
import type { MessageRow } from './profile-storage.js';
import { zMailMessageId, toBase64Url, randomBytes, summariseFile, type AttachmentSummary, type ConversationId, type FileRef, type Mail, type MessageId, type UserId } from '@sealpost/protocol';

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

/** A Message-ID as a header carries it, in angle brackets; undefined when empty or too long for a header line. */
export function normaliseMessageId(id: string | undefined): string | undefined {
  if (!id) return undefined;
  const t = id.trim();
  if (t.length === 0 || t.length > 998) return undefined;
  return t.startsWith('<') ? t : `<${t}>`;
}

/** Whether a string is a Message-ID a Sealpost mail can carry (`<id@domain>`, as the protocol's schema requires). */
export function isMailMessageId(id: string | undefined): id is string {
  return zMailMessageId.safeParse(id).success;
}

/** A References header's Message-IDs, oldest first, at most the last 100. */
export function parseReferences(header: string | undefined): string[] {
  return (header ?? '').split(/\s+/).map((r) => normaliseMessageId(r)).filter((r): r is string => r !== undefined).slice(-100);
}

/**
 * The mail on this device that one of these Message-IDs names (checked in order: In-Reply-To first, then References
 * from the newest), so an answer joins the thread it answers — a Sealpost mail, or an outside one filed by its own id.
 */
export function mailAnswered(store: { listMail(): MessageRow[] }, ids: string[]): MessageRow | undefined {
  if (ids.length === 0) return undefined; // most mail answers nothing: no need to read every mail
  const rows = store.listMail();
  for (const id of ids) {
    const row = rows.find((m) => m.content.messageId === id || (m.content.outsideMessageIds as string[] | undefined)?.includes(id));
    if (row) return row;
  }
  return undefined;
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
