import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { StreamCursor } from './stream-cursor.js';

const source = () => {
  let opened = 0;
  const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  const open = () => {
    opened++;
    return Readable.from((function* () { for (let at = 0; at < bytes.length; at += 97) yield bytes.subarray(at, at + 97); })());
  };
  return { bytes, open, opened: () => opened };
};

const read = async (c: StreamCursor, from: number, length: number) => {
  const out: Buffer[] = [];
  const n = await c.copy(from, length, async (b) => void out.push(Buffer.from(b)));
  return { n, bytes: Buffer.concat(out) };
};

describe('StreamCursor', () => {
  it('serves pieces one after another from one opened stream, each exactly its bytes', async () => {
    const s = source();
    const c = new StreamCursor('m/2', s.open());
    const pieces: Buffer[] = [];
    for (let from = 0; from < 1000; from += 64) {
      expect(c.reaches('m/2', from)).toBe(true);
      const got = await read(c, from, 64);
      pieces.push(got.bytes);
    }
    expect(Buffer.concat(pieces)).toEqual(s.bytes);
    expect(s.opened()).toBe(1);
    c.close();
  });

  it('skips forward within the stream, but cannot go back or serve another part', async () => {
    const s = source();
    const c = new StreamCursor('m/2', s.open());
    expect((await read(c, 500, 10)).bytes).toEqual(s.bytes.subarray(500, 510));
    expect(c.reaches('m/2', 400)).toBe(false);
    expect(c.reaches('m/3', 510)).toBe(false);
    expect((await read(c, 990, 100)).n).toBe(10); // the stream ends: fewer bytes than asked
    expect(c.reaches('m/2', 1000)).toBe(false);
    c.close();
  });
});
