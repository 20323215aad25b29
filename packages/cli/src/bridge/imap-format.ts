// What IMAP answers are made of, from a rendered message: ENVELOPE (RFC 3501 §7.4.2), BODYSTRUCTURE and BODY
// (§7.4.2), and the header subsets BODY[HEADER.FIELDS (…)] asks for.
import { imapString } from './imap-parser.js';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { headerFields, type Part, type RenderMail } from './render.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** INTERNALDATE: `"17-Jul-1996 02:44:25 +0000"`. */
export function internalDate(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `"${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

function address(a: string): string {
  const at = a.lastIndexOf('@');
  return `(NIL NIL ${imapString(at < 0 ? a : a.slice(0, at))} ${imapString(at < 0 ? '' : a.slice(at + 1))})`;
}
const addresses = (list: string[] | undefined) => (list && list.length > 0 ? `(${list.map(address).join('')})` : 'NIL');

export function envelope(m: RenderMail): string {
  if (m.envelope) return m.envelope;
  const from = addresses([m.from]);
  return `(${imapString(new Date(m.date).toUTCString())} ${imapString(m.subject)} ${from} ${from} ${from} ${addresses(m.to)} ${addresses(m.cc)} ${addresses(m.bcc)} ${imapString(m.inReplyTo ?? null)} ${imapString(m.messageId)})`;
}

/**
 * ENVELOPE from a header as written (a message a mail program made): values as they stand, encoded words included, and
 * NIL for what is missing; Sender and Reply-To default to From (RFC 3501 §7.4.2).
 */
export function envelopeFromHeader(header: Buffer): string {
  const fields = headerFields(header);
  const first = (name: string) => fields.find(([k]) => k === name)?.[1];
  const list = (name: string): string | undefined => {
    const value = first(name);
    if (value === undefined) return undefined;
    const out: string[] = [];
    const one = (a: { name?: string; address?: string }) => {
      const addr = a.address ?? '';
      const at = addr.lastIndexOf('@');
      out.push(`(${imapString(a.name || null)} NIL ${imapString(at < 0 ? addr : addr.slice(0, at))} ${imapString(at < 0 ? null : addr.slice(at + 1))})`);
    };
    for (const a of addressparser(value.slice(0, 64 * 1024)).slice(0, 1000)) {
      if ('group' in a && a.group) {
        out.push(`(NIL NIL ${imapString(a.name ?? '')} NIL)`);
        a.group.forEach(one);
        out.push('(NIL NIL NIL NIL)');
      } else one(a);
    }
    return out.length > 0 ? `(${out.join('')})` : undefined;
  };
  const from = list('from');
  const str = (name: string) => imapString(first(name) ?? null);
  return `(${str('date')} ${str('subject')} ${from ?? 'NIL'} ${list('sender') ?? from ?? 'NIL'} ${list('reply-to') ?? from ?? 'NIL'} ${list('to') ?? 'NIL'} ${list('cc') ?? 'NIL'} ${list('bcc') ?? 'NIL'} ${str('in-reply-to')} ${str('message-id')})`;
}

const paramList = (params: Record<string, string>, skip: string[] = []) => {
  const entries = Object.entries(params).filter(([k]) => !skip.includes(k));
  return entries.length === 0 ? 'NIL' : `(${entries.map(([k, v]) => `${imapString(k.toUpperCase())} ${imapString(v)}`).join(' ')})`;
};

/** BODYSTRUCTURE (extended) or BODY (basic) of a part. */
export function bodyStructure(p: Part, extended: boolean): string {
  if (p.children.length > 0) {
    const kids = p.children.map((c) => bodyStructure(c, extended)).join('');
    return extended ? `(${kids} ${imapString(p.subtype.toUpperCase())} ${paramList(p.params)} NIL NIL NIL)` : `(${kids} ${imapString(p.subtype.toUpperCase())})`;
  }
  const basic = `${imapString(p.type.toUpperCase())} ${imapString(p.subtype.toUpperCase())} ${paramList(p.params)} ${imapString(p.id ?? null)} NIL ${imapString(p.encoding.toUpperCase())} ${p.size}`;
  // message/rfc822 (§7.4.2): the embedded message's envelope and structure, then its line count.
  const textLines = p.message
    ? ` ${envelopeFromHeader(p.message.header)} ${bodyStructure(p.message, extended)} ${p.lines}`
    : p.type === 'text'
      ? ` ${p.lines}`
      : '';
  if (!extended) return `(${basic}${textLines})`;
  const disp = p.disposition ? `(${imapString(p.disposition.type.toUpperCase())} ${paramList(p.disposition.params)})` : 'NIL';
  return `(${basic}${textLines} NIL ${disp} NIL NIL)`;
}

/** The header fields named (or all but them, for .NOT), as BODY[HEADER.FIELDS] returns them, with the blank line. */
export function headerSubset(header: Buffer, fields: string[], not: boolean): Buffer {
  const wanted = new Set(fields.map((f) => f.toLowerCase()));
  const text = header.toString('latin1');
  const out: string[] = [];
  // Keep folded lines with their field.
  for (const raw of text.split(/\r\n(?![ \t])/)) {
    if (raw === '') continue;
    const name = raw.slice(0, raw.indexOf(':')).trim().toLowerCase();
    if (wanted.has(name) !== not) out.push(raw);
  }
  return Buffer.from(`${out.join('\r\n')}${out.length ? '\r\n' : ''}\r\n`, 'latin1');
}

/** A header value of the whole message (for SEARCH HEADER), unfolded. */
export function headerValue(header: Buffer, field: string): string[] {
  return headerFields(header).filter(([k]) => k === field.toLowerCase()).map(([, v]) => v);
}
