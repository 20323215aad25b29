import { describe, expect, it } from 'vitest';
import { newConversationId, newDeviceId, newMessageId, parseConversationId, parseDeviceId, parseUserId } from './ids.js';

describe('ids', () => {
  it('parses user ids, folding case, and refuses malformed ones with INVALID_INPUT', () => {
    expect(parseUserId('Alice@LocalHost')).toBe('alice@localhost');
    expect(parseUserId('a.b-c_d@mail.example.org')).toBe('a.b-c_d@mail.example.org');
    for (const bad of ['alice', '@localhost', 'alice@', 'al ice@localhost', 'alice@local_host', 'a@b@c', '', 42, null, `${'a'.repeat(65)}@x`]) {
      expect(() => parseUserId(bad)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });
  it('mints ids that parse, and refuses lookalikes', () => {
    expect(parseDeviceId(newDeviceId())).toMatch(/^dev_/);
    expect(parseConversationId(newConversationId())).toMatch(/^c_/);
    expect(newMessageId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(() => parseDeviceId('dev_short')).toThrow();
    expect(() => parseConversationId('c_../../../../etc/passwd00')).toThrow();
  });
  it('mints message ids that a command line never takes for an option', () => {
    for (let i = 0; i < 20_000; i++) expect(newMessageId().startsWith('-')).toBe(false);
  });
});
