// A Sealpost mail as an RFC 5322 message for IMAP clients, built with nodemailer's MailComposer (deterministic: the
// boundaries come from the mail id, the date from when it was sent), and the MIME structure IMAP answers from
// (BODYSTRUCTURE, BODY[1.2], BODY[1.MIME]): each part of the composer's tree built on its own, split into its header
// block and its body — the same bytes as inside the whole message.
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';

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
  body: Buffer;
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
  raw: Buffer;
  root: Part;
}

type MimeNode = {
  childNodes: MimeNode[];
  build(cb: (err: Error | null, out: Buffer) => void): void;
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

/** `type/subtype; a=b; c="d"` into its value and parameters (our own composer's output: well formed). */
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

/** The whole message: build() (which ends it with a line break). */
const build = (node: MimeNode): Promise<Buffer> => new Promise((resolve, reject) => node.build((err, out) => (err ? reject(err) : resolve(out))));

/** A part as it is inside its parent: stream() (build() would add a final line break the embedded part lacks). */
function embedded(node: MimeNode): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    node.stream(out, {}, (err) => (err ? reject(err) : resolve(Buffer.concat(chunks))));
  });
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

async function partOf(node: MimeNode, root = false): Promise<Part> {
  const bytes = root ? await build(node) : await embedded(node);
  const split = bytes.indexOf('\r\n\r\n');
  const header = bytes.subarray(0, split + 4);
  return { header, body: bytes.subarray(split + 4), children: await Promise.all(node.childNodes.map((c) => partOf(c))), ...partFields(header) };
}

/**
 * Render a mail. `contents` gives each attachment's bytes; for sizes and structure alone, zero-filled bytes of the
 * same length give the same output length (attachments are always base64).
 */
export async function renderMail(m: RenderMail, attachments: RenderAttachment[], contents: (i: number) => Promise<Buffer>): Promise<Rendered> {
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
    text: m.text,
    ...(m.html ? { html: m.html } : {}),
    attachments: await Promise.all(
      attachments.map(async (a, i) => ({ filename: a.name, contentType: a.type || 'application/octet-stream', content: await contents(i), contentTransferEncoding: 'base64' as const })),
    ),
    baseBoundary,
    // Bcc is kept in what the sender sees of their own mail (RFC 5322 §3.6.3 allows it).
    keepBcc: true,
  } as ConstructorParameters<typeof MailComposer>[0]);
  const root = composer.compile() as unknown as MimeNode;
  const part = await partOf(root, true);
  return { raw: Buffer.concat([part.header, part.body]), root: part };
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
