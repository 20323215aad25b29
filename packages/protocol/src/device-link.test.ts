// The link bundle's encoding: what the approving device seals for the new one survives the round trip, a bundle
// from before the conversation list was added still decodes, and oversized or malformed bundles are refused.
import { describe, expect, it } from 'vitest';
import { encodeCbor } from './codec.js';
import { decodeLinkBundle, encodeLinkBundle, MAX_LINK_CONVERSATIONS } from './device-link.js';

const key = new Uint8Array(32).fill(1);
const history = [{ conversation: 'c1', id: 'm1', senderUser: 'ana@example.org', senderDevice: 'd1', sentAt: 5, kind: 'text' as const, content: '{"text":"hi"}' }];

describe('link bundle', () => {
  it('round-trips the keys, history and the conversations the new device will join', () => {
    const bundle = { accountPublic: key, accountPrivate: key, history, conversations: ['c1', 'c2'] };
    expect(decodeLinkBundle(encodeLinkBundle(bundle))).toEqual(bundle);
  });

  it('decodes a bundle without the conversation list (made by an older client)', () => {
    const old = encodeCbor(['sealpost-link-bundle-v1', key, key, []]);
    expect(decodeLinkBundle(old)).toEqual({ accountPublic: key, accountPrivate: key, history: [] });
  });

  it('refuses too many conversations and malformed ones', () => {
    const many = Array.from({ length: MAX_LINK_CONVERSATIONS + 1 }, (_, i) => `c${i}`);
    expect(() => decodeLinkBundle(encodeCbor(['sealpost-link-bundle-v1', key, key, [], many]))).toThrow(/linkBundle/);
    expect(() => decodeLinkBundle(encodeCbor(['sealpost-link-bundle-v1', key, key, [], [42]]))).toThrow(/linkBundle/);
  });
});
