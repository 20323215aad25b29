import { describe, expect, it } from 'vitest';
import { parseStructure } from './mime-structure.js';
import { bodyStructure, envelopeFromHeader } from './imap-format.js';

const msg = (...lines: string[]) => Buffer.from(lines.join('\r\n'), 'latin1');

describe('parseStructure', () => {
  it('finds the header and body of a single-part message', () => {
    const p = parseStructure(msg('Subject: x', 'Content-Type: text/plain; charset=utf-8', '', 'hello', ''));
    expect(p.header.toString()).toBe('Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n');
    expect(p.body?.toString()).toBe('hello\r\n');
    expect([p.type, p.subtype, p.params.charset, p.children.length]).toEqual(['text', 'plain', 'utf-8', 0]);
  });

  it('splits nested multiparts at their delimiters, leaving preamble and epilogue out', () => {
    const p = parseStructure(
      msg(
        'Content-Type: multipart/mixed; boundary=outer',
        '',
        'preamble',
        '--outer',
        'Content-Type: multipart/alternative; boundary="inner"',
        '',
        '--inner',
        '',
        'plain',
        '--inner',
        'Content-Type: text/html',
        '',
        '<p>html</p>',
        '--inner--',
        '--outer  ',
        'Content-Type: application/octet-stream',
        'Content-Transfer-Encoding: base64',
        '',
        'AAAA',
        '--outer--',
        'epilogue',
      ),
    );
    expect(p.children.map((c) => `${c.type}/${c.subtype}`)).toEqual(['multipart/alternative', 'application/octet-stream']);
    expect(p.children[0]!.children.map((c) => [c.type, c.subtype, c.body?.toString()])).toEqual([
      ['text', 'plain', 'plain'],
      ['text', 'html', '<p>html</p>'],
    ]);
    expect(p.children[1]!.body?.toString()).toBe('AAAA');
    expect(p.children[1]!.encoding).toBe('base64');
  });

  it('does not take a longer boundary that starts with the same text for the delimiter', () => {
    const p = parseStructure(msg('Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'one', '--bx is text', '--b', '', 'two', '--b--'));
    expect(p.children.map((c) => c.body?.toString())).toEqual(['one\r\n--bx is text', 'two']);
  });

  it('runs a part without a closing delimiter to the end, and shows a multipart without parts as text', () => {
    expect(parseStructure(msg('Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'cut off')).children.map((c) => c.body?.toString())).toEqual(['cut off']);
    const empty = parseStructure(msg('Content-Type: multipart/mixed; boundary=b', '', 'no delimiter at all'));
    expect([empty.type, empty.children.length]).toEqual(['text', 0]);
  });

  it('never reaches past the message for the line break after a nested closing delimiter', () => {
    // A small Buffer lives inside a larger shared one: what follows the message there is someone else's.
    const pool = Buffer.from('Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--i--\r\nSECRET', 'latin1');
    const message = pool.subarray(0, pool.length - 'SECRET'.length - 2);
    const inner = parseStructure(message).children[0]!;
    expect(inner.body?.toString('latin1').endsWith('--i--')).toBe(true);
  });

  it('gives a message/rfc822 part its own message, with envelope and structure in BODYSTRUCTURE', () => {
    const p = parseStructure(
      msg('Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: message/rfc822', '', 'From: Carol <carol@example.org>', 'Subject: inner', '', 'inner body', '--b--'),
    );
    const inner = p.children[0]!;
    expect(inner.message?.body?.toString()).toBe('inner body');
    expect(bodyStructure(inner, true)).toContain('("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ');
    expect(bodyStructure(inner, true)).toContain('"inner" (("Carol" NIL "carol" "example.org"))');
  });

  it('stops at its nesting limit: a message nested 10,000 deep is parsed in linear time as a shallow tree', () => {
    const depth = 10_000;
    const parts: string[] = [];
    for (let i = 0; i < depth; i++) parts.push(`Content-Type: multipart/mixed; boundary=b${i}`, '', `--b${i}`);
    parts.push('', 'leaf');
    const t0 = performance.now();
    let p = parseStructure(msg(...parts));
    let levels = 0;
    while (p.children.length > 0) {
      p = p.children[0]!;
      levels++;
    }
    expect(levels).toBeLessThanOrEqual(16);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('envelopeFromHeader', () => {
  it('keeps values as written, names and groups included, Sender and Reply-To from From, NIL for what is missing', () => {
    const env = envelopeFromHeader(
      Buffer.from('From: "Bob B." <bob@localhost>\r\nTo: team: a@x.org, b@y.org;\r\nSubject: =?UTF-8?Q?r=C3=A9sum=C3=A9?=\r\n\r\n', 'latin1'),
    );
    expect(env).toBe(
      '(NIL "=?UTF-8?Q?r=C3=A9sum=C3=A9?=" (("Bob B." NIL "bob" "localhost")) (("Bob B." NIL "bob" "localhost")) (("Bob B." NIL "bob" "localhost")) ((NIL NIL "team" NIL)(NIL NIL "a" "x.org")(NIL NIL "b" "y.org")(NIL NIL NIL NIL)) NIL NIL NIL NIL)',
    );
  });
});
