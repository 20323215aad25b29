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
});
