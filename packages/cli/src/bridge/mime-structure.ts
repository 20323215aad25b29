// The MIME structure of a message a mail program made (a draft it saved through APPEND), as the byte ranges IMAP
// answers from: each part's header block and body, nested multiparts and message/rfc822 parts (RFC 2045/2046). The
// bytes are kept as they came — the client gets back exactly what it stored — and this only finds where each part
// begins and ends. One pass over the bytes per nesting level, at most MAX_DEPTH levels and MAX_PARTS parts: anything
// deeper or beyond is one opaque leaf, as Dovecot does with its own limits.
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { envelopeFromHeader } from './imap-format.js';
import { headerFields, partFields, type Part, type RenderMail } from './render.js';

const MAX_DEPTH = 16;
const MAX_PARTS = 1000;

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** Split a header block from its body: at the first empty line (a message starting with one has no header). */
function splitHeader(bytes: Buffer): [Buffer, Buffer] {
  if (bytes[0] === 13 && bytes[1] === 10) return [bytes.subarray(0, 2), bytes.subarray(2)];
  const end = bytes.indexOf(CRLF_CRLF);
  if (end < 0) return [bytes, bytes.subarray(bytes.length)];
  return [bytes.subarray(0, end + 4), bytes.subarray(end + 4)];
}

/**
 * The body parts of a multipart body (RFC 2046 §5.1.1): what lies between `--boundary` delimiter lines, without the
 * line break before each delimiter (it belongs to the delimiter); the preamble and the epilogue are not parts.
 */
function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.concat([Buffer.from('\r\n'), dash]);
  const next = (from: number) => body.indexOf(delimiter, from);
  const parts: Buffer[] = [];
  let start = -1; // where the current part began, once the first delimiter was seen
  // p: where the line break before a delimiter line is (-2 for a delimiter on the body's very first line).
  let p = body.subarray(0, dash.length).equals(dash) ? -2 : next(0);
  while (p !== -1) {
    const after = p + 2 + dash.length;
    const close = body[after] === 45 && body[after + 1] === 45;
    let eol = body.indexOf('\r\n', after);
    if (eol < 0) eol = body.length;
    // `--boundaryX` is not this boundary: only transport padding (spaces, tabs) may follow it, or `--` and padding.
    if (!/^[ \t]*$/.test(body.toString('latin1', close ? after + 2 : after, eol))) {
      p = next(after);
      continue;
    }
    if (start >= 0) parts.push(body.subarray(start, Math.max(p, start)));
    if (close || parts.length >= MAX_PARTS) return parts;
    start = Math.min(eol + 2, body.length);
    p = next(eol);
  }
  // No closing delimiter: the last part runs to the end (what Dovecot and most readers do).
  if (start >= 0) parts.push(body.subarray(start));
  return parts;
}

/**
 * A nested multipart whose body ends at its own closing delimiter keeps the line break after it, as Dovecot counts it
 * (the same two bytes also begin the parent's next delimiter), so BODY[n] of it is what Dovecot gives.
 */
function withClosingLineBreak(body: Buffer, boundary: string, message: Buffer): Buffer {
  // Only bytes of this message: a small Buffer shares its memory with others, which must never show in an answer.
  const end = body.byteOffset + body.length;
  if (end + 2 > message.byteOffset + message.length) return body;
  const whole = Buffer.from(body.buffer, body.byteOffset, body.length + 2);
  if (whole[body.length] !== 13 || whole[body.length + 1] !== 10) return body;
  const lastLine = body.toString('latin1', body.lastIndexOf(10) + 1);
  return lastLine.replace(/[ \t]+$/, '') === `--${boundary}--` ? whole : body;
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** A message's parts as IMAP sees them (BODYSTRUCTURE, BODY[1.2], BODY[2.MIME]). */
export function parseStructure(raw: Buffer): Part {
  let count = 0;
  const parse = (bytes: Buffer, depth: number, defaultType: string): Part => {
    count++;
    const [header, body] = splitHeader(bytes);
    const fields = partFields(header, defaultType);
    const part: Part = { header, body, size: body.length, lines: countLines(body), children: [], ...fields };
    if (depth >= MAX_DEPTH || count >= MAX_PARTS) return part;
    if (fields.type === 'multipart' && fields.params.boundary) {
      const inner = fields.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
      part.children = splitMultipart(body, fields.params.boundary).map((b) => parse(b, depth + 1, inner));
      if (depth > 0) {
        part.body = withClosingLineBreak(body, fields.params.boundary, raw);
        part.size = part.body.length;
      }
      // A multipart without any part is shown as the text it is.
      if (part.children.length === 0) Object.assign(part, { type: 'text', subtype: 'plain', params: {} });
    } else if (fields.type === 'message' && fields.subtype === 'rfc822') {
      part.message = parse(body, depth + 1, 'text/plain');
    }
    return part;
  };
  return parse(raw, 0, 'text/plain');
}

/**
 * What ENVELOPE, INTERNALDATE and SEARCH read of a message a mail program made, from its header as written (encoded
 * words stay encoded, as in any IMAP server's ENVELOPE); the text searched is the body as stored.
 */
export function headerView(id: string, part: Part, fallbackDate: number): RenderMail {
  const fields = headerFields(part.header);
  const first = (name: string) => fields.find(([k]) => k === name)?.[1];
  const addrs = (name: string) =>
    fields
      .filter(([k]) => k === name)
      .flatMap(([, v]) => addressparser(v.slice(0, 64 * 1024), { flatten: true }))
      .map((a) => a.address)
      .filter((a) => a.length > 0)
      .slice(0, 1000);
  const date = Date.parse(first('date') ?? '');
  return {
    id,
    from: addrs('from')[0] ?? '',
    to: addrs('to'),
    cc: addrs('cc'),
    bcc: addrs('bcc'),
    subject: first('subject') ?? '',
    date: new Date(Number.isNaN(date) ? fallbackDate : date).toISOString(),
    messageId: first('message-id') ?? '',
    ...(first('in-reply-to') ? { inReplyTo: first('in-reply-to')! } : {}),
    references: (first('references') ?? '').split(/\s+/).filter(Boolean).slice(-100),
    text: (part.body ?? Buffer.alloc(0)).toString('utf8', 0, Math.min(part.size, 1024 * 1024)),
    html: null,
    envelope: envelopeFromHeader(part.header),
  };
}
