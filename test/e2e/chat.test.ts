import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

describe('chat end to end', () => {
  it('alice and bob exchange messages; a repeat send reuses the conversation', async () => {
    const alice = (await server.enroll('alice')).client;
    const bob = (await server.enroll('bob')).client;

    const sent = await alice.send({ to: ['bob@localhost'] }, 'hello bob');
    const got = await bob.sync();
    expect(got).toEqual([
      expect.objectContaining({ type: 'message', conversation: sent.conversation, id: sent.id, from: 'alice@localhost', text: 'hello bob' }),
    ]);
    expect(new Date(got[0]!.sentAt).toISOString()).toBe(got[0]!.sentAt);

    const reply = await bob.send({ to: ['alice@localhost'] }, 'hi alice');
    expect(reply.conversation).toBe(sent.conversation);
    expect((await alice.sync()).map((m) => m.text)).toEqual(['hi alice']);
    expect(await bob.sync()).toEqual([]);

    const again = await alice.send({ to: ['bob@localhost'] }, 'second');
    expect(again.conversation).toBe(sent.conversation);
    expect(alice.conversations()).toEqual([{ id: sent.conversation, kind: 'chat', members: ['alice@localhost', 'bob@localhost'], status: 'active' }]);
    expect((await bob.sync()).map((m) => m.text)).toEqual(['second']);
    expect(bob.messages(sent.conversation).map((m) => `${m.from}: ${m.text}`)).toEqual([
      'alice@localhost: hello bob',
      'bob@localhost: hi alice',
      'alice@localhost: second',
    ]);
  });
});
