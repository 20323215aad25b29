import { describe, expect, it } from 'vitest';
import { CommandReader, ImapSyntaxError, imapLimits, imapString, parseFetchItems, parseSearch, parseSequenceSet, tokenize } from './imap-parser.js';

/** Feeds bytes (in the pieces given) and returns the commands tokenized, the continuations and the errors. */
function read(...chunks: string[]) {
  const commands: ReturnType<typeof tokenize>[] = [];
  const errors: string[] = [];
  let continues = 0;
  const r = new CommandReader((raw) => commands.push(tokenize(raw)), () => continues++, (e, tag) => errors.push(`${tag ?? '-'} ${e.message}`));
  for (const c of chunks) r.push(Buffer.from(c, 'latin1'));
  return { commands, errors, continues };
}

describe('reading commands', () => {
  it('reads atoms, quoted strings with escapes, NIL and nested lists', () => {
    const { commands } = read('a1 LOGIN "al\\"ice" pass\r\nA2 fetch 1:* (FLAGS (X NIL))\r\n');
    expect(commands[0]).toEqual({ tag: 'a1', name: 'LOGIN', args: [{ type: 'string', value: 'al"ice', bytes: Buffer.from('al"ice') }, { type: 'atom', value: 'pass' }] });
    expect(commands[1]!.name).toBe('FETCH');
    expect(commands[1]!.args[1]).toEqual({ type: 'list', items: [{ type: 'atom', value: 'FLAGS' }, { type: 'list', items: [{ type: 'atom', value: 'X' }, { type: 'nil' }] }] });
  });

  it('joins UID with its command, and keeps \\flags as atoms', () => {
    const { commands } = read('t UID STORE 4 +FLAGS.SILENT (\\Seen \\Deleted)\r\n');
    expect(commands[0]!.name).toBe('UID STORE');
    expect(commands[0]!.args[2]).toEqual({ type: 'list', items: [{ type: 'atom', value: '\\Seen' }, { type: 'atom', value: '\\Deleted' }] });
  });

  it('reads a synchronising literal after asking for it, and a LITERAL+ one without asking, across chunk borders', () => {
    const r = read('a LOGIN {5}\r\n', 'al', 'ice {3+}\r\nabc\r\n');
    expect(r.continues).toBe(1);
    expect(r.commands[0]!.args.map((a) => (a.type === 'string' ? a.value : ''))).toEqual(['alice', 'abc']);
  });

  it('keeps a section with spaces and parens, and a partial, as one atom', () => {
    const { commands } = read('f FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> UID)\r\n');
    const items = parseFetchItems(commands[0]!.args[1]);
    expect(items[0]).toMatchObject({ name: 'BODY', section: 'HEADER.FIELDS', fields: ['FROM', 'TO'], peek: true, partial: { start: 0, length: 100 } });
    expect(items[0]!.label).toBe('BODY[HEADER.FIELDS (FROM TO)]<0>');
    expect(items[1]).toMatchObject({ name: 'UID' });
  });

  it('refuses an announced literal over the limit before reading it (1 GB), naming the tag', () => {
    const r = read('x APPEND INBOX {1073741824}\r\n');
    expect(r.continues).toBe(0);
    expect(r.errors[0]).toMatch(/^x literal of 1073741824 bytes is larger than/);
  });

  it('refuses 10,000 nested parentheses quickly and cleanly', () => {
    const t = Date.now();
    expect(() => tokenize([Buffer.from(`a FETCH 1 ${'('.repeat(10_000)}${')'.repeat(10_000)}`)])).toThrow(ImapSyntaxError);
    expect(Date.now() - t).toBeLessThan(500);
  });

  it('refuses a line over the limit, unterminated strings and unclosed lists', () => {
    expect(read(`a NOOP ${'x'.repeat(imapLimits.maxLineBytes + 10)}`).errors[0]).toMatch(/longer than/);
    expect(() => tokenize([Buffer.from('a LOGIN "abc')])).toThrow(/unterminated/);
    expect(() => tokenize([Buffer.from('a FETCH 1 (FLAGS')])).toThrow(/unclosed/);
    expect(() => tokenize([Buffer.from('(')])).toThrow(/tag/);
  });
});

describe('argument forms', () => {
  it('expands sequence sets against *, in order, each number once', () => {
    expect(parseSequenceSet('1:3,2,7:*', 8)).toEqual([1, 2, 3, 7, 8]);
    expect(parseSequenceSet('*:4', 5)).toEqual([4, 5]);
    expect(parseSequenceSet('5:*', 3)).toEqual([3]);
    expect(() => parseSequenceSet('0', 3)).toThrow(/out of range/);
    expect(() => parseSequenceSet('1,,2', 3)).toThrow(/sequence set/);
  });

  it('parses FETCH macros and RFC822 forms', () => {
    expect(parseFetchItems({ type: 'atom', value: 'FAST' }).map((i) => i.name)).toEqual(['FLAGS', 'INTERNALDATE', 'RFC822.SIZE']);
    expect(parseFetchItems({ type: 'atom', value: 'RFC822.HEADER' })[0]).toMatchObject({ section: 'HEADER', label: 'RFC822.HEADER' });
    expect(parseFetchItems({ type: 'atom', value: 'BODY[1.2.MIME]' })[0]).toMatchObject({ section: '1.2.MIME' });
    expect(() => parseFetchItems({ type: 'atom', value: 'BODY[FOO]' })).toThrow(/unknown section/);
  });

  it('parses SEARCH programs: flags, OR, NOT, UID sets, dates, headers', () => {
    const { commands } = read('s UID SEARCH CHARSET UTF-8 OR UNSEEN FLAGGED NOT FROM "bob" UID 1:5 SINCE 1-Feb-2026 HEADER Message-ID "<x@y>"\r\n');
    expect(parseSearch(commands[0]!.args)).toEqual({
      op: 'and',
      keys: [
        { op: 'or', a: { op: 'flag', flag: '\\Seen', set: false }, b: { op: 'flag', flag: '\\Flagged', set: true } },
        { op: 'not', key: { op: 'text', where: 'FROM', value: 'bob' } },
        { op: 'uid', text: '1:5' },
        { op: 'date', which: 'SINCE', day: Date.UTC(2026, 1, 1) },
        { op: 'header', field: 'MESSAGE-ID', value: '<x@y>' },
      ],
    });
    expect(() => parseSearch([{ type: 'atom', value: 'CHARSET' }, { type: 'atom', value: 'KOI8-R' }, { type: 'atom', value: 'ALL' }])).toThrow(/BADCHARSET/);
  });

  it('writes strings quoted when it can, as a literal when it must', () => {
    expect(imapString('a "b"')).toBe('"a \\"b\\""');
    expect(imapString(null)).toBe('NIL');
    expect(imapString('Grüße')).toBe(`{7}\r\n${Buffer.from('Grüße').toString('latin1')}`);
  });
});
