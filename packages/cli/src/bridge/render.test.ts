import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { partAt, renderMail, type RenderMail } from './render.js';
import { parseStructure } from './mime-structure.js';

const mail: RenderMail = {
  id: 'mail-1', from: 'alice@example.org', to: ['bob@example.org'], cc: [], subject: 'files', date: '2026-12-07T09:00:00.000Z',
  messageId: '<m1@example.org>', references: [], text: 'three files\nattached', html: '<p>three files</p>',
};

const all = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};

describe('renderMail', () => {
  it('measures a mail with files exactly as the bytes it streams: sizes and lines of every part', async () => {
    const sizes = [0, 1, 56, 57, 58, 171, 172, 100_003, 1_000_000];
    const files = sizes.map((n) => randomBytes(n));
    const atts = sizes.map((n, i) => ({ name: `f${i}.${i % 2 ? 'txt' : 'bin'}`, type: i % 2 ? 'text/plain' : 'application/octet-stream', size: n }));
    // Chunks of odd sizes, as a download hands them over.
    const source = (i: number) => Readable.from((function* () { for (let at = 0; at < files[i]!.length; at += 4099) yield files[i]!.subarray(at, at + 4099); })());
    const shape = await renderMail(mail, atts, source);
    expect(shape.raw).toBeUndefined();
    const whole = await all(shape.open!(''));
    expect(whole.length).toBe(shape.size);
    // What a MIME parser finds in the streamed bytes is what the shape says, part by part.
    const real = parseStructure(whole);
    const compare = (a: ReturnType<typeof parseStructure>, b: typeof a, path: string) => {
      expect([path, b.size, b.lines, b.header.length]).toEqual([path, a.size, a.lines, a.header.length]);
      a.children.forEach((c, i) => compare(c, b.children[i]!, `${path}.${i + 1}`));
    };
    compare(real, shape.root, '');
    // A part streamed on its own: its MIME header and then its body, the bytes inside the whole message.
    const part = partAt(shape.root, '4')!;
    const alone = await all(shape.open!('4'));
    expect(alone.subarray(part.header.length)).toEqual(partAt(real, '4')!.body);
    expect(Buffer.from(alone.subarray(part.header.length).toString(), 'base64')).toEqual(files[2]);
  });

  it('keeps a mail without files whole', async () => {
    const r = await renderMail(mail, [], () => Readable.from([]));
    expect(r.raw?.length).toBe(r.size);
    expect(r.open).toBeUndefined();
  });
});
