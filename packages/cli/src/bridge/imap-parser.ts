// The IMAP4rev1 command grammar (RFC 3501 §9), for the bridge's server: reading commands off the wire with their
// literals (§4.3, and LITERAL+ of RFC 7888), turning them into tokens, and the argument forms commands take
// (sequence sets §9 "sequence-set", FETCH items §6.4.5, SEARCH keys §6.4.4). No maintained IMAP server library exists
// for Node, so this is ours: every limit is explicit, and every failure says where it failed.

const CRLF = Buffer.from('\r\n');

/** Hard limits: a command line, one literal, literals per command, and nesting of parenthesised lists. */
export const imapLimits = {
  maxLineBytes: 64 * 1024,
  maxLiteralBytes: 32 * 1024 * 1024,
  maxLiteralsPerCommand: 16,
  maxDepth: 16,
  maxTokens: 10_000,
};

export class ImapSyntaxError extends Error {
  constructor(message: string) {
    // An answer to a client, never a bug to trace: no stack is captured (it would cost more than the parse).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'ImapSyntaxError';
  }
}

export type Token =
  | { type: 'atom'; value: string }
  | { type: 'string'; value: string; bytes: Buffer }
  | { type: 'nil' }
  | { type: 'list'; items: Token[] };

/** One command as read off the wire: its line pieces, each followed by the literal it announced (if any). */
export type RawCommand = { text: string; literal?: Buffer }[];

export interface Command {
  tag: string;
  /** Upper-cased; `UID FETCH` and the like keep both words. */
  name: string;
  args: Token[];
}

/**
 * Splits a byte stream into complete commands. A line that ends in a literal announcement `{n}` (or `{n+}`) is
 * followed by n bytes and then the rest of the command. `onContinue` is called when a synchronising literal needs
 * the server's "+ go ahead". Input past a limit stops the reader: it reports the error and takes no more.
 */
export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private parts: { text: string; literal?: Buffer }[] = [];
  private literalsThisCommand = 0;
  private pendingLiteral = -1;
  private waiting: Buffer[] = [];
  private waitingBytes = 0;
  private failed = false;

  constructor(
    private readonly onCommand: (raw: RawCommand) => void,
    private readonly onContinue: () => void,
    private readonly onError: (err: ImapSyntaxError, tag: string | undefined) => void,
    private readonly limits = imapLimits,
  ) {}

  /** Whether a literal is being read (IDLE's DONE and AUTHENTICATE's responses come as plain lines). */
  get inCommand(): boolean {
    return this.parts.length > 0 || this.pendingLiteral >= 0;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    // Chunks are joined only when they can complete something — a literal, or a line (a chunk with a LF) — so a
    // literal or a line arriving in many small chunks is copied once, not once per chunk.
    this.waiting.push(chunk);
    this.waitingBytes += chunk.length;
    const have = this.buf.length + this.waitingBytes;
    if (this.pendingLiteral >= 0 ? have < this.pendingLiteral : chunk.indexOf(10) < 0) {
      if (this.pendingLiteral < 0 && have > this.limits.maxLineBytes) return this.fail(`command line longer than ${this.limits.maxLineBytes} bytes`, Buffer.concat([this.buf, ...this.waiting]).toString('latin1', 0, 64));
      return;
    }
    chunk = this.waiting.length === 1 ? this.waiting[0]! : Buffer.concat(this.waiting);
    this.waiting = [];
    this.waitingBytes = 0;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let at = 0;
    for (;;) {
      if (this.pendingLiteral >= 0) {
        if (this.buf.length - at < this.pendingLiteral) break;
        this.parts[this.parts.length - 1]!.literal = this.buf.subarray(at, at + this.pendingLiteral);
        at += this.pendingLiteral;
        this.pendingLiteral = -1;
        continue;
      }
      const eol = this.buf.indexOf(CRLF, at);
      if (eol < 0) {
        if (this.buf.length - at > this.limits.maxLineBytes) return this.fail(`command line longer than ${this.limits.maxLineBytes} bytes`, this.buf.toString('latin1', at, at + 64));
        break;
      }
      const line = this.buf.toString('latin1', at, eol);
      if (line.length > this.limits.maxLineBytes) return this.fail(`command line longer than ${this.limits.maxLineBytes} bytes`, line);
      at = eol + 2;
      // A literal announcement ends the line: {n} or {n+} (RFC 7888).
      const lit = line.charCodeAt(line.length - 1) === 0x7d ? /\{(\d{1,12})(\+?)\}$/.exec(line) : null;
      if (lit) {
        const n = Number(lit[1]);
        if (n > this.limits.maxLiteralBytes) return this.fail(`literal of ${n} bytes is larger than ${this.limits.maxLiteralBytes}`, line);
        if (++this.literalsThisCommand > this.limits.maxLiteralsPerCommand) return this.fail(`more than ${this.limits.maxLiteralsPerCommand} literals in one command`, line);
        this.parts.push({ text: line.slice(0, lit.index) });
        this.pendingLiteral = n;
        if (lit[2] !== '+') this.onContinue();
        continue;
      }
      // An empty line between commands is no command (some clients send one after a literal's command).
      if (line.length === 0 && this.parts.length === 0) continue;
      const command = this.parts;
      command.push({ text: line });
      this.parts = [];
      this.literalsThisCommand = 0;
      this.onCommand(command);
    }
    this.buf = at >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
  }

  private fail(message: string, line?: string): void {
    this.failed = true;
    const first = this.parts[0]?.text.slice(0, 64) ?? (line ?? this.buf.subarray(0, 64).toString('latin1'));
    const tag = /^([^\s(){%*"\\\]]+) /.exec(first)?.[1];
    this.buf = Buffer.alloc(0);
    this.parts = [];
    this.onError(new ImapSyntaxError(message), tag);
  }
}

// RFC 3501 §9: atom-specials are ( ) { SP CTL % * " \ ]. We read '*' and '%' (sequence sets, LIST patterns) and a
// leading '\' (flags) as part of an atom, and ']' only inside a [section].
const ATOM_STOP = new Set(['(', ')', '{', ' ', '"', ']']);

/**
 * Tokenizes one command (the parts CommandReader produced: line pieces, each literal's bytes after its line piece).
 * Flags like \Seen are atoms; `BODY[HEADER.FIELDS (A B)]<0.10>` is one atom (its section may hold spaces and parens).
 */
export function tokenize(raw: RawCommand | Buffer[]): { tag: string; name: string; args: Token[] } {
  const pieces: RawCommand = raw.length > 0 && Buffer.isBuffer(raw[0]) ? piecesOf(raw as Buffer[]) : (raw as RawCommand);
  let pi = 0;
  let pos = 0;
  let count = 0;
  const cur = () => pieces[pi]!.text;
  const peek = (): string | undefined => cur()[pos];

  function readAtom(): string {
    const s = cur();
    let out = '';
    let bracket = 0;
    while (pos < s.length) {
      const ch = s[pos]!;
      if (ch === '[') bracket++;
      if (bracket === 0 && (ATOM_STOP.has(ch) || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) break;
      if (ch === ']') {
        if (bracket === 0) break;
        bracket--;
      }
      if (bracket > 0 && ch === '\r') break;
      out += ch;
      pos++;
    }
    if (bracket !== 0) throw new ImapSyntaxError('unclosed [ in an argument');
    // A partial range after a section: <start.count>
    if (out.endsWith(']') && s[pos] === '<') {
      const m = /^<\d{1,10}(\.\d{1,10})?>/.exec(s.slice(pos));
      if (!m) throw new ImapSyntaxError('bad <partial> after a section');
      out += m[0];
      pos += m[0].length;
    }
    if (out.length === 0) throw new ImapSyntaxError(`unexpected ${JSON.stringify(s[pos] ?? 'end of line')} at column ${pos}`);
    return out;
  }

  function readQuoted(): Token {
    const s = cur();
    pos++; // opening quote
    let out = '';
    while (pos < s.length) {
      const ch = s[pos]!;
      if (ch === '"') {
        pos++;
        const bytes = Buffer.from(out, 'latin1');
        return { type: 'string', value: bytes.toString('utf8'), bytes };
      }
      if (ch === '\\') {
        const next = s[pos + 1];
        if (next !== '"' && next !== '\\') throw new ImapSyntaxError(`bad escape in a quoted string at column ${pos}`);
        out += next;
        pos += 2;
        continue;
      }
      if (ch === '\r' || ch === '\n') break;
      out += ch;
      pos++;
    }
    throw new ImapSyntaxError('unterminated quoted string');
  }

  function readToken(depth: number): Token {
    if (++count > imapLimits.maxTokens) throw new ImapSyntaxError(`more than ${imapLimits.maxTokens} arguments`);
    // End of a line piece that announced a literal: the literal is the token.
    if (pos >= cur().length && pieces[pi]!.literal) {
      const bytes = pieces[pi]!.literal!;
      pi++;
      pos = 0;
      return { type: 'string', value: bytes.toString('utf8'), bytes };
    }
    const ch = peek();
    if (ch === '(') {
      if (depth >= imapLimits.maxDepth) throw new ImapSyntaxError(`lists nested deeper than ${imapLimits.maxDepth}`);
      pos++;
      const items: Token[] = [];
      for (;;) {
        skipSpaces();
        if (peek() === ')') {
          pos++;
          return { type: 'list', items };
        }
        if (peek() === undefined && !pieces[pi]!.literal) throw new ImapSyntaxError('unclosed (');
        items.push(readToken(depth + 1));
      }
    }
    if (ch === '"') return readQuoted();
    const atom = readAtom();
    return atom.toUpperCase() === 'NIL' ? { type: 'nil' } : { type: 'atom', value: atom };
  }

  function skipSpaces(): void {
    while (peek() === ' ') pos++;
  }

  const tagMatch = /^([^\s(){%*"\\\]+]+) +([A-Za-z]+)(?: +([A-Za-z]+))?/.exec(cur());
  if (!tagMatch) throw new ImapSyntaxError('expected a tag and a command');
  const tag = tagMatch[1]!;
  let name = tagMatch[2]!.toUpperCase();
  pos = tag.length;
  skipSpaces();
  pos += tagMatch[2]!.length;
  if (name === 'UID' && tagMatch[3]) {
    name = `UID ${tagMatch[3].toUpperCase()}`;
    skipSpaces();
    pos += tagMatch[3].length;
  }
  const args: Token[] = [];
  for (;;) {
    if (pos >= cur().length && !pieces[pi]!.literal) break;
    if (peek() !== ' ' && !(pos >= cur().length)) throw new ImapSyntaxError(`expected a space at column ${pos}`);
    skipSpaces();
    if (pos >= cur().length && !pieces[pi]!.literal) break;
    args.push(readToken(0));
  }
  if (pi !== pieces.length - 1) throw new ImapSyntaxError('unexpected data after a literal');
  return { tag, name, args };
}

const TAG_AND_NAME = /^([^\s(){%*"\\\]+]+) +[A-Za-z]/;

/**
 * A command, or why it is not one (with its tag when it has one) — a value, since bad input from a client is an
 * expected outcome; the common case of a line with no tag is answered without an exception.
 */
export function readCommand(raw: RawCommand): Command | { error: string; tag: string | undefined } {
  const first = raw[0]?.text ?? '';
  const tag = TAG_AND_NAME.exec(first)?.[1];
  if (!tag) return { error: 'expected a tag and a command', tag: /^([^\s(){%*"\\\]+]+)/.exec(first)?.[1] };
  try {
    return tokenize(raw);
  } catch (err) {
    if (err instanceof ImapSyntaxError) return { error: err.message, tag };
    throw err;
  }
}

/** Pieces from whole byte strings (tests, the fuzzer): a line ending in {n}\r\n, then its literal's bytes. */
function piecesOf(raw: Buffer[]): RawCommand {
  const out: RawCommand = [];
  for (let i = 0; i < raw.length; i++) {
    const text = raw[i]!.toString('latin1');
    const m = /\{\d+\+?\}\r\n$/.exec(text);
    if (m && i + 1 < raw.length) {
      out.push({ text: text.slice(0, m.index), literal: raw[i + 1]! });
      i++;
    } else out.push({ text });
  }
  return out;
}

// ---- argument forms ------------------------------------------------------------------------------------------------

/** A sequence set (`1:*,3,7:9`) against `max` (the largest number, the value of `*`); a sorted set of numbers. */
export function parseSequenceSet(text: string, max: number, limitItems = 1_000_000): number[] {
  if (!/^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$/.test(text)) throw new ImapSyntaxError(`not a sequence set: ${text.slice(0, 40)}`);
  const out = new Set<number>();
  for (const range of text.split(',')) {
    const [a, b] = range.split(':');
    const num = (x: string) => {
      if (x === '*') return max;
      const n = Number(x);
      if (!Number.isSafeInteger(n) || n < 1) throw new ImapSyntaxError(`sequence number out of range: ${x}`);
      return n;
    };
    let lo = num(a!);
    let hi = b === undefined ? lo : num(b);
    if (lo > hi) [lo, hi] = [hi, lo];
    hi = Math.min(hi, max);
    for (let n = lo; n <= hi; n++) {
      out.add(n);
      if (out.size > limitItems) throw new ImapSyntaxError('sequence set too large');
    }
  }
  return [...out].sort((x, y) => x - y);
}

export interface FetchItem {
  /** FLAGS, UID, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE, BODY (no section), MODSEQ, or BODY[…] */
  name: string;
  /** For BODY[…] / BODY.PEEK[…] / RFC822*: the section ('' for the whole message), upper-cased keywords. */
  section?: string;
  /** HEADER.FIELDS (A B) and .NOT: the field names, upper-cased. */
  fields?: string[];
  partial?: { start: number; length?: number };
  peek?: boolean;
  /** How the item is named in the response (`BODY[HEADER]<0>`, `RFC822`). */
  label: string;
}

const SIMPLE_FETCH = new Set(['FLAGS', 'UID', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'MODSEQ']);

function fetchItem(atom: string): FetchItem {
  const up = atom.toUpperCase();
  if (SIMPLE_FETCH.has(up)) return { name: up, label: up };
  if (up === 'RFC822') return { name: 'BODY', section: '', label: 'RFC822' };
  if (up === 'RFC822.HEADER') return { name: 'BODY', section: 'HEADER', peek: true, label: 'RFC822.HEADER' };
  if (up === 'RFC822.TEXT') return { name: 'BODY', section: 'TEXT', label: 'RFC822.TEXT' };
  const m = /^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK)\[([^\]]*)\](?:<(\d+)(?:\.(\d+))?>)?$/i.exec(atom);
  if (!m) throw new ImapSyntaxError(`unknown FETCH item ${atom.slice(0, 40)}`);
  const section = m[2]!;
  const fm = /^((?:\d+\.)*)(HEADER\.FIELDS(?:\.NOT)?)\s*\(([^()]*)\)$/i.exec(section);
  let sectionKey = section.toUpperCase();
  let fields: string[] | undefined;
  if (fm) {
    sectionKey = `${fm[1]}${fm[2]!.toUpperCase()}`;
    fields = fm[3]!.trim().split(/\s+/).filter(Boolean).map((f) => f.replace(/^"|"$/g, '').toUpperCase());
    if (fields.length === 0 || fields.length > 200) throw new ImapSyntaxError('HEADER.FIELDS needs 1 to 200 names');
  } else if (!/^((\d+)(\.\d+)*)?(\.?(HEADER|TEXT|MIME))?$/i.test(section)) {
    throw new ImapSyntaxError(`unknown section ${section.slice(0, 40)}`);
  }
  const partial = m[3] !== undefined ? { start: Number(m[3]), ...(m[4] !== undefined ? { length: Number(m[4]) } : {}) } : undefined;
  const base = m[1]!.toUpperCase().startsWith('BINARY') ? 'BINARY' : 'BODY';
  const label = `${base}[${fields ? `${sectionKey} (${fields.join(' ')})` : sectionKey}]${partial ? `<${partial.start}>` : ''}`;
  return { name: 'BODY', section: sectionKey, ...(fields ? { fields } : {}), ...(partial ? { partial } : {}), peek: /PEEK/i.test(m[1]!), label };
}

/** FETCH's item list: a macro (ALL, FAST, FULL), one item, or a parenthesised list. */
export function parseFetchItems(tok: Token | undefined): FetchItem[] {
  if (!tok) throw new ImapSyntaxError('FETCH needs items');
  if (tok.type === 'atom') {
    const up = tok.value.toUpperCase();
    if (up === 'ALL') return ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'].map(fetchItem);
    if (up === 'FAST') return ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'].map(fetchItem);
    if (up === 'FULL') return ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'].map(fetchItem);
    return [fetchItem(tok.value)];
  }
  if (tok.type === 'list') {
    if (tok.items.length === 0) throw new ImapSyntaxError('empty FETCH item list');
    return tok.items.map((t) => {
      if (t.type !== 'atom') throw new ImapSyntaxError('FETCH items are atoms');
      return fetchItem(t.value);
    });
  }
  throw new ImapSyntaxError('FETCH items are an atom or a list');
}

/** A SEARCH program (§6.4.4), as the bridge evaluates it. */
export type SearchKey =
  | { op: 'all' }
  | { op: 'flag'; flag: string; set: boolean }
  | { op: 'seq'; text: string }
  | { op: 'uid'; text: string }
  | { op: 'header'; field: string; value: string }
  | { op: 'text'; where: 'TEXT' | 'BODY' | 'SUBJECT' | 'FROM' | 'TO' | 'CC' | 'BCC'; value: string }
  | { op: 'date'; which: 'BEFORE' | 'ON' | 'SINCE' | 'SENTBEFORE' | 'SENTON' | 'SENTSINCE'; day: number }
  | { op: 'size'; larger: boolean; n: number }
  | { op: 'modseq'; n: number }
  | { op: 'not'; key: SearchKey }
  | { op: 'or'; a: SearchKey; b: SearchKey }
  | { op: 'and'; keys: SearchKey[] };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true], UNANSWERED: ['\\Answered', false], DELETED: ['\\Deleted', true], UNDELETED: ['\\Deleted', false],
  DRAFT: ['\\Draft', true], UNDRAFT: ['\\Draft', false], FLAGGED: ['\\Flagged', true], UNFLAGGED: ['\\Flagged', false],
  SEEN: ['\\Seen', true], UNSEEN: ['\\Seen', false], NEW: ['\\Recent', true], OLD: ['\\Recent', false], RECENT: ['\\Recent', true],
};
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

function searchDate(t: Token | undefined): number {
  const s = t && (t.type === 'atom' || t.type === 'string') ? t.value : '';
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  const month = m ? MONTHS.indexOf(m[2]!.toUpperCase()) : -1;
  if (!m || month < 0) throw new ImapSyntaxError(`not a date (like 1-Feb-2026): ${s.slice(0, 20)}`);
  return Date.UTC(Number(m[3]), month, Number(m[1]));
}

function str(t: Token | undefined, what: string): string {
  if (!t || (t.type !== 'atom' && t.type !== 'string')) throw new ImapSyntaxError(`${what} needs a value`);
  return t.value;
}

/** SEARCH's arguments (after an optional CHARSET, which must be UTF-8 or US-ASCII). */
export function parseSearch(args: Token[]): SearchKey {
  let i = 0;
  if (args[0]?.type === 'atom' && args[0].value.toUpperCase() === 'CHARSET') {
    const cs = str(args[1], 'CHARSET').toUpperCase();
    if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new ImapSyntaxError(`[BADCHARSET (UTF-8 US-ASCII)] ${cs} is not supported`);
    i = 2;
  }
  function one(depth: number): SearchKey {
    if (depth > imapLimits.maxDepth) throw new ImapSyntaxError('search nested too deep');
    const t = args[i++];
    if (!t) throw new ImapSyntaxError('search key missing');
    if (t.type === 'list') {
      const saved = args;
      const inner = t.items;
      const keys: SearchKey[] = [];
      const back = i;
      args = inner;
      i = 0;
      while (i < inner.length) keys.push(one(depth + 1));
      args = saved;
      i = back;
      return { op: 'and', keys };
    }
    const key = str(t, 'search').toUpperCase();
    if (key === 'ALL') return { op: 'all' };
    if (FLAG_KEYS[key]) return { op: 'flag', flag: FLAG_KEYS[key]![0], set: FLAG_KEYS[key]![1] };
    if (key === 'KEYWORD' || key === 'UNKEYWORD') return { op: 'flag', flag: str(args[i++], key), set: key === 'KEYWORD' };
    if (key === 'UID') return { op: 'uid', text: str(args[i++], 'UID') };
    if (/^(\d+|\*)([:,]|$)/.test(key)) return { op: 'seq', text: key };
    if (key === 'HEADER') {
      const field = str(args[i++], 'HEADER');
      return { op: 'header', field: field.toUpperCase(), value: str(args[i++], 'HEADER') };
    }
    if (['TEXT', 'BODY', 'SUBJECT', 'FROM', 'TO', 'CC', 'BCC'].includes(key)) return { op: 'text', where: key as 'TEXT', value: str(args[i++], key) };
    if (['BEFORE', 'ON', 'SINCE', 'SENTBEFORE', 'SENTON', 'SENTSINCE'].includes(key)) return { op: 'date', which: key as 'ON', day: searchDate(args[i++]) };
    if (key === 'LARGER' || key === 'SMALLER') {
      const n = Number(str(args[i++], key));
      if (!Number.isSafeInteger(n) || n < 0) throw new ImapSyntaxError(`${key} needs a number`);
      return { op: 'size', larger: key === 'LARGER', n };
    }
    if (key === 'MODSEQ') {
      const n = Number(str(args[i++], key));
      if (!Number.isSafeInteger(n) || n < 0) throw new ImapSyntaxError('MODSEQ needs a number');
      return { op: 'modseq', n };
    }
    if (key === 'NOT') return { op: 'not', key: one(depth + 1) };
    if (key === 'OR') {
      const a = one(depth + 1);
      return { op: 'or', a, b: one(depth + 1) };
    }
    throw new ImapSyntaxError(`unknown search key ${key.slice(0, 30)}`);
  }
  const keys: SearchKey[] = [];
  while (i < args.length) keys.push(one(0));
  if (keys.length === 0) throw new ImapSyntaxError('SEARCH needs a key');
  return keys.length === 1 ? keys[0]! : { op: 'and', keys };
}

// ---- writing responses ---------------------------------------------------------------------------------------------

/** A string as IMAP sends it: quoted when it can be, a literal when it holds CR, LF, quotes or 8-bit bytes. */
export function imapString(s: string | null | undefined): string {
  if (s === null || s === undefined) return 'NIL';
  if (/^[\x20-\x7e]*$/.test(s) && s.length < 1024) return `"${s.replace(/(["\\])/g, '\\$1')}"`;
  const b = Buffer.from(s, 'utf8');
  return `{${b.length}}\r\n${b.toString('latin1')}`;
}
