// A Sealpost mail as an RFC 5322 message for IMAP clients, built with nodemailer's MailComposer (deterministic: the
// boundaries come from the mail id, the date from when it was sent), and the MIME structure IMAP answers from
// (BODYSTRUCTURE, BODY[1.2], BODY[1.MIME]): each part of the composer's tree streamed on its own, split into its header
// block and its body — the same bytes as inside the whole message. A mail's attachments are never held: its shape is
// measured with zeros of each file's length (base64 output depends only on the length), and when a client fetches a
// part holding a file, openPart streams it again with the file decrypted as it downloads.
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { MailFull } from '@sealpost/client';

export interface RenderAttachment {
  name: string;
  type: string;
  size: number;
}

export interface RenderMail {
  id: string;
  from: string;
  to: string[];
  cc: string[];
  bcc?: string[];
  subject: string;
  /** ISO date. */
  date: string;
  messageId: string;
  inReplyTo?: string;
  references: string[];
  text: string;
  html: string | null;
  /** ENVELOPE as already made from the message's own header (a draft a mail program wrote). */
  envelope?: string;
}

export interface Part {
  header: Buffer;
  /** The body's bytes; absent when it holds a file (streamed by openPart when fetched, never kept). */
  body?: Buffer;
  /** The body's length in bytes and in lines (BODYSTRUCTURE gives both). */
  size: number;
  lines: number;
  children: Part[];
  /** type/subtype, lower-cased, and the Content-Type parameters. */
  type: string;
  subtype: string;
  params: Record<string, string>;
  encoding: string;
  disposition?: { type: string; params: Record<string, string> };
  id?: string;
  /** A message/rfc822 part's own message (in a message a mail program made; the bridge renders none). */
  message?: Part;
}

export interface Rendered {
  /** The whole message's length. */
  size: number;
  /** The whole message, when no part of it is a file (most mail); otherwise its parts are streamed with `open`. */
  raw?: Buffer;
  root: Part;
  /** The part at a section path (`''`: the whole message), its header block and body, with its files decrypted as they download. */
  open?: (path: string) => Readable;
}

/** What is rendered of a mail in the device's store (the bridge's views, the archive's export). */
export function renderMailOf(m: MailFull): RenderMail {
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    cc: m.cc,
    ...(m.bcc ? { bcc: m.bcc } : {}),
    subject: m.subject,
    date: m.date,
    messageId: m.messageId,
    ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
    references: m.references,
    text: m.text,
    html: m.html,
  };
}

/** A mail's files, its own and those that came inside outside mail, in the order they are rendered. */
export function attachmentsOf(m: MailFull): (RenderAttachment & { id: string })[] {
  return [
    ...m.attachments.map((a) => ({ id: a.id, name: a.name, type: a.type, size: a.size })),
    ...(m.outside?.attachments ?? []).flatMap((a) => (a.id ? [{ id: a.id, name: a.name, type: a.type, size: a.size }] : [])),
  ];
}

/** Each attachment's real bytes, as a stream that starts downloading when first read. */
export type AttachmentSource = (i: number) => Readable;

type MimeNode = {
  childNodes: MimeNode[];
  filename?: string;
  createReadStream(): Readable;
  stream(out: NodeJS.WritableStream, options: object, done: (err?: Error | null) => void): void;
};

/** Header lines of a block, unfolded, as [lower-case name, value]. */
export function headerFields(block: Buffer): [string, string][] {
  const text = block.toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  return text
    .split(/\r?\n/)
    .filter((l) => l.includes(':'))
    .map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
    });
}

/** `type/subtype; a=b; c="d"` into its value and parameters (a quote left open runs to the end of the value). */
function valueAndParams(v: string | undefined): { value: string; params: Record<string, string> } {
  if (!v) return { value: '', params: {} };
  const parts = v.match(/(?:[^;"]+|"(?:[^"\\]|\\.)*")+/g) ?? [];
  const params: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const i = p.indexOf('=');
    if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { value: (parts[0] ?? '').trim().toLowerCase(), params };
}

/**
 * A node's bytes as they stand in the message: the root's as build() gives them (createReadStream, which ends with a
 * line break), a part's as stream() writes it into its parent (no final line break of its own).
 */
function nodeBytes(node: MimeNode, root: boolean): Readable {
  if (root) return node.createReadStream();
  const out = new PassThrough();
  node.stream(out, {}, (err) => (err ? out.destroy(err) : out.end()));
  return out;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** Reads a node's bytes: its header block, its body's length and lines, and the body itself when asked to keep it. */
async function measure(node: MimeNode, root: boolean, keepBody: boolean): Promise<{ header: Buffer; body?: Buffer; size: number; lines: number }> {
  let head: Buffer | undefined;
  let pending = Buffer.alloc(0);
  const body: Buffer[] = [];
  let size = 0;
  let lines = 0;
  const take = (b: Buffer) => {
    size += b.length;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
    if (keepBody) body.push(b);
  };
  for await (const chunk of nodeBytes(node, root)) {
    if (head) {
      take(chunk as Buffer);
      continue;
    }
    pending = Buffer.concat([pending, chunk as Buffer]);
    const end = pending.indexOf(CRLF_CRLF);
    if (end < 0) continue;
    head = Buffer.from(pending.subarray(0, end + 4));
    take(pending.subarray(end + 4));
  }
  return { header: head ?? pending, ...(keepBody ? { body: Buffer.concat(body) } : {}), size, lines };
}

/** What a part's header says of it (the first of each field counts), with the default type for where it stands. */
export function partFields(header: Buffer, defaultType = 'text/plain'): Pick<Part, 'type' | 'subtype' | 'params' | 'encoding' | 'disposition' | 'id'> {
  const fields = new Map(headerFields(header).reverse());
  // No Content-Type: the default of where the part stands, with its default charset (RFC 2045 §5.2, RFC 2046 §5.1.5).
  const given = fields.get('content-type');
  const ct = given ? valueAndParams(given) : { ...valueAndParams(defaultType), params: defaultType === 'text/plain' ? { charset: 'us-ascii' } : {} };
  const [type, subtype] = ct.value.split('/') as [string, string | undefined];
  const disp = fields.get('content-disposition');
  const d = disp ? valueAndParams(disp) : undefined;
  return {
    type: type || 'text',
    subtype: subtype || 'plain',
    params: ct.params,
    encoding: (fields.get('content-transfer-encoding') || '7bit').toLowerCase(),
    ...(d ? { disposition: { type: d.value, params: d.params } } : {}),
    ...(fields.get('content-id') ? { id: fields.get('content-id')! } : {}),
  };
}

/** A node and its children; the bodies of files, and of every part holding one, are measured, not kept. */
async function partOf(node: MimeNode, root = false): Promise<Part> {
  const children = await Promise.all(node.childNodes.map((c) => partOf(c)));
  const holdsFile = node.filename !== undefined || children.some((c) => c.body === undefined);
  const { header, body, size, lines } = await measure(node, root, !holdsFile);
  return { header, ...(body ? { body } : {}), size, lines, children, ...partFields(header) };
}

const crlf = (text: string) => text.replace(/\r\n|\r|\n/g, '\r\n');

function compose(m: RenderMail, attachments: RenderAttachment[], content: (i: number) => Buffer | Readable): MimeNode {
  const baseBoundary = createHash('sha256').update(`sealpost-bridge\0${m.id}`).digest('hex').slice(0, 16);
  const composer = new MailComposer({
    from: m.from,
    to: m.to,
    ...(m.cc.length > 0 ? { cc: m.cc } : {}),
    ...(m.bcc && m.bcc.length > 0 ? { bcc: m.bcc } : {}),
    subject: m.subject,
    date: new Date(m.date),
    messageId: m.messageId,
    ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
    ...(m.references.length > 0 ? { references: m.references } : {}),
    // Lines end in CRLF in a message (RFC 5322 §2.1, and IMAP counts sizes so); Sealpost keeps text with LF.
    text: crlf(m.text),
    ...(m.html ? { html: crlf(m.html) } : {}),
    attachments: attachments.map((a, i) => ({ filename: a.name, contentType: a.type || 'application/octet-stream', content: content(i), contentTransferEncoding: 'base64' as const })),
    baseBoundary,
    // Bcc is kept in what the sender sees of their own mail (RFC 5322 §3.6.3 allows it).
    keepBcc: true,
  } as ConstructorParameters<typeof MailComposer>[0]);
  return composer.compile() as unknown as MimeNode;
}

/** Base64 in lines of 76 characters and a line break: each 57 bytes of a file are one line of 78 bytes. */
const LINE_IN = 57;
const LINE_OUT = 78;

/** Adds `lines` whole base64 lines to the part of file `index` and to every part holding it. */
function grow(part: Part, index: { next: number }, extra: number[]): { size: number; lines: number } {
  let add = { size: 0, lines: 0 };
  if (part.children.length === 0 && part.disposition?.type === 'attachment') {
    const lines = extra[index.next++] ?? 0;
    add = { size: lines * LINE_OUT, lines };
  }
  for (const c of part.children) {
    const more = grow(c, index, extra);
    add = { size: add.size + more.size, lines: add.lines + more.lines };
  }
  part.size += add.size;
  part.lines += add.lines;
  return add;
}

/**
 * Render a mail: the whole message when it has no attachment; otherwise its shape (every part's header, sizes and
 * lines, the text parts' bodies) with `open` to stream any part with the files' real bytes from `source`. The shape
 * is measured with each file cut to a few base64 lines of zeros (its length modulo a line kept) and the lines cut
 * added back by arithmetic — exact, as the encoder wraps every full line alike — so measuring a 1 GB file costs nothing.
 */
export async function renderMail(m: RenderMail, attachments: RenderAttachment[], source: AttachmentSource): Promise<Rendered> {
  const cut = attachments.map((a) => (a.size <= 3 * LINE_IN ? a.size : (a.size % LINE_IN) + 2 * LINE_IN));
  const root = await partOf(compose(m, attachments, (i) => Buffer.alloc(cut[i]!)), true);
  grow(root, { next: 0 }, attachments.map((a, i) => (a.size - cut[i]!) / LINE_IN));
  const size = root.header.length + root.size;
  if (root.body) return { size, raw: Buffer.concat([root.header, root.body]), root };
  return { size, root, open: opener(m, attachments, source) };
}

/**
 * Made outside renderMail on purpose: a closure made there would keep that async function's whole frame alive — the
 * composer's tree and the zeros it measured, as large as the files.
 */
function opener(m: RenderMail, attachments: RenderAttachment[], source: AttachmentSource): (path: string) => Readable {
  return (path) => openPart(m, attachments, source, path);
}

/** The part at a section path of a freshly composed message, header and body, its files read from `source`. */
function openPart(m: RenderMail, attachments: RenderAttachment[], source: AttachmentSource, path: string): Readable {
  let node = compose(m, attachments, source);
  const root = node;
  for (const n of path === '' ? [] : path.split('.').map(Number)) {
    // A single-part node's part 1 is its body (the composer's tree has no message/rfc822 parts).
    if (node.childNodes.length === 0 && n === 1) continue;
    const child = node.childNodes[n - 1];
    if (!child) return Readable.from([]);
    node = child;
  }
  return nodeBytes(node, node === root);
}

/** A stream an attachment's download writes into (a WebStreams sink, as the client's downloads take), read as a Node stream. */
export function downloadStream(start: (sink: WritableStream<Uint8Array>) => Promise<unknown>): Readable {
  return Readable.from(
    (async function* () {
      const pass = new PassThrough();
      // The download ends the stream by closing the sink; a failure (a corrupt chunk, the server gone) errors it.
      const done = start(Writable.toWeb(pass) as WritableStream<Uint8Array>).catch((err: Error) => pass.destroy(err));
      try {
        yield* pass;
        await done;
      } finally {
        // A reader that stops early (a partial fetch, a client gone) ends the download too.
        pass.destroy();
      }
    })(),
    // Bytes, not objects: a stream of objects would read sixteen whole decrypted chunks ahead of the client.
    { objectMode: false, highWaterMark: 64 * 1024 },
  );
}

/**
 * The part a section path names (`1.2`), or undefined; the message's own part is path ''. Parts are numbered within a
 * message (the whole one, or the one a message/rfc822 part holds): its children when it is multipart, else part 1 is
 * its body (RFC 3501 §6.4.5).
 */
export function partAt(root: Part, path: string): Part | undefined {
  if (path === '') return root;
  let message: Part | undefined = root;
  let node: Part = root;
  for (const n of path.split('.').map(Number)) {
    if (!message) return undefined; // a leaf that holds no message has no parts
    if (message.children.length === 0) {
      if (n !== 1) return undefined;
      node = message;
    } else {
      const child: Part | undefined = message.children[n - 1];
      if (!child) return undefined;
      node = child;
    }
    message = node.children.length > 0 ? node : node.message;
  }
  return node;
}
