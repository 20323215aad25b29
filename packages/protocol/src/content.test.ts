import { describe, expect, it } from 'vitest';
import { decodeContent, encodeContent } from './content.js';
import { encodeCbor } from './codec.js';
import { newMessageId } from './ids.js';

describe('content', () => {
  it('round-trips chat text', () => {
    const c = { v: 1 as const, type: 'text' as const, id: newMessageId(), sentAt: 1700000000000, text: 'héllo 👋' };
    expect(decodeContent(encodeContent(c))).toEqual(c);
  });
  it('keeps unknown future content types as unknown instead of failing', () => {
    const id = newMessageId();
    expect(decodeContent(encodeCbor({ v: 3, type: 'poll', id, sentAt: 1, question: '?' }))).toEqual({ v: 3, type: 'unknown', id, sentAt: 1 });
  });
  it('refuses malformed content', () => {
    expect(() => decodeContent(encodeCbor({ v: 1, type: 'text', id: newMessageId(), sentAt: 1, text: 5 }))).toThrow(/content\.text/);
    expect(() => decodeContent(encodeCbor('just a string'))).toThrow(/content/);
  });
  it('round-trips a rename, and refuses a name with control characters or too long', () => {
    const r = { v: 1 as const, type: 'rename' as const, id: newMessageId(), sentAt: 1, name: 'Quarterly plan' };
    expect(decodeContent(encodeContent(r))).toEqual(r);
    expect(() => decodeContent(encodeCbor({ ...r, name: 'two\nlines' }))).toThrow(/content\.name: no control characters/);
    expect(() => decodeContent(encodeCbor({ ...r, name: 'x'.repeat(101) }))).toThrow(/content\.name/);
  });
});
