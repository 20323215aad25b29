import { describe, expect, it } from 'vitest';
import { decodeClientFrame, decodeServerFrame, encodeFrame } from './frames.js';
import { encodeCbor } from './codec.js';
import { limits } from './limits.js';
import { newConversationId, newMessageId } from './ids.js';

describe('frames', () => {
  it('round-trips a send frame with binary payload', () => {
    const frame = { t: 'send' as const, r: 7, c: newConversationId(), e: 3, id: newMessageId(), p: new Uint8Array([1, 2, 3]) };
    expect(decodeClientFrame(encodeFrame(frame))).toEqual(frame);
  });
  it('says where a frame is wrong', () => {
    expect(() => decodeClientFrame(encodeCbor({ t: 'send', r: 1, c: 'nope', e: 0, id: newMessageId(), p: new Uint8Array() }))).toThrow(/frame\.c/);
    expect(() => decodeClientFrame(encodeCbor({ t: 'auth', token: 'x', extra: 1 }))).toThrow(expect.objectContaining({ code: 'MALFORMED_FRAME' }));
    expect(() => decodeClientFrame(encodeCbor({ t: 'launch' }))).toThrow(expect.objectContaining({ code: 'MALFORMED_FRAME' }));
    expect(() => decodeClientFrame(new Uint8Array([0xff, 0x00, 0x12]))).toThrow(expect.objectContaining({ code: 'MALFORMED_FRAME' }));
    expect(() => decodeClientFrame(new Uint8Array(limits.maxFrameBytes + 1))).toThrow(/frame: length \d+ > \d+/);
  });
  it('refuses a payload over the MLS message limit', () => {
    const frame = { t: 'send', r: 1, c: newConversationId(), e: 0, id: newMessageId(), p: new Uint8Array(limits.maxMlsMessageBytes + 1) };
    expect(() => decodeClientFrame(encodeCbor(frame))).toThrow(/frame\.p/);
  });
  it('decodes server error frames with stable codes only', () => {
    expect(decodeServerFrame(encodeCbor({ t: 'err', code: 'EPOCH_CONFLICT', message: 'x', epoch: 2 }))).toMatchObject({ code: 'EPOCH_CONFLICT' });
    expect(() => decodeServerFrame(encodeCbor({ t: 'err', code: 'MADE_UP', message: 'x' }))).toThrow();
  });
});
