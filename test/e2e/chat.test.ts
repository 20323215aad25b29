import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { chats, startTestServer, type TestServer } from '../helpers.js';

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
    const got = chats(await bob.sync());
    expect(got).toEqual([
      expect.objectContaining({ type: 'message', conversation: sent.conversation, id: sent.id, from: 'alice@localhost', text: 'hello bob' }),
    ]);
    expect(new Date(got[0]!.sentAt).toISOString()).toBe(got[0]!.sentAt);

    const reply = await bob.send({ to: ['alice@localhost'] }, 'hi alice');
    expect(reply.conversation).toBe(sent.conversation);
    expect(chats(await alice.sync()).map((m) => m.text)).toEqual(['hi alice']);
    expect(chats(await bob.sync())).toEqual([]);

    const again = await alice.send({ to: ['bob@localhost'] }, 'second');
    expect(again.conversation).toBe(sent.conversation);
    expect(alice.conversations()).toEqual([{ id: sent.conversation, kind: 'chat', members: ['alice@localhost', 'bob@localhost'], status: 'active', suite: 'pq-hybrid' }]);
    expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['second']);
    // New conversations are post-quantum by default (policy conversation-suite); bob's device sees the same suite.
    expect(bob.conversations().map((c) => c.suite)).toEqual(['pq-hybrid']);
    expect(bob.messages(sent.conversation).map((m) => `${m.from}: ${m.text}`)).toEqual([
      'alice@localhost: hello bob',
      'bob@localhost: hi alice',
      'alice@localhost: second',
    ]);
  });
});

describe('group chat end to end', () => {
  it('three users talk; members are added and removed; a removed user gets nothing after removal', async () => {
    const alice = (await server.enroll('alice')).client;
    const bob = (await server.enroll('bob')).client;
    const carol = (await server.enroll('carol')).client;
    const dave = (await server.enroll('dave')).client;

    const { conversation } = await alice.send({ to: ['bob@localhost', 'carol@localhost'] }, 'hi all');
    expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['hi all']);
    expect(chats(await carol.sync()).map((m) => m.text)).toEqual(['hi all']);
    await carol.send({ conversation }, 'carol here');
    expect(chats(await alice.sync()).map((m) => `${m.from}: ${m.text}`)).toEqual(['carol@localhost: carol here']);
    expect(chats(await bob.sync()).map((m) => `${m.from}: ${m.text}`)).toEqual(['carol@localhost: carol here']);

    // Bob adds Dave; Dave sees messages from then on, not before.
    await bob.addMember(conversation, 'dave@localhost');
    await bob.send({ conversation }, 'welcome dave');
    expect(chats(await dave.sync()).map((m) => m.text)).toEqual(['welcome dave']);
    expect(dave.conversations()[0]).toMatchObject({ id: conversation, members: ['alice@localhost', 'bob@localhost', 'carol@localhost', 'dave@localhost'] });

    // Alice removes Carol.
    await alice.removeMember(conversation, 'carol@localhost');
    await alice.send({ conversation }, 'after carol left');
    // Carol still gets what was sent while she was a member, and nothing after.
    expect(chats(await carol.sync()).map((m) => m.text)).toEqual(['welcome dave']);
    expect(carol.conversations()[0]).toMatchObject({ id: conversation, status: 'removed' });
    await expect(carol.send({ conversation }, 'let me back')).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    for (const c of [bob, dave]) expect(chats(await c.sync()).map((m) => m.text)).toContain('after carol left');
    expect(alice.conversations()[0]!.members).toEqual(['alice@localhost', 'bob@localhost', 'dave@localhost']);
  });

  it('explains bad requests without creating anything', async () => {
    const alice = (await server.enroll('alice')).client;
    await expect(alice.send({ to: ['nobody@localhost'] }, 'hi')).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
    await expect(alice.send({ to: ['alice@localhost'] }, 'hi')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(alice.send({ to: ['bob@localhost'] }, '')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(alice.conversations()).toEqual([]);
  });
});

describe('a profile reopened from disk', () => {
  it('keeps keys, groups and history, and the server keeps everything across a restart', async () => {
    const a = await server.enroll('alice');
    const b = await server.enroll('bob');
    const { conversation } = await a.client.send({ to: ['bob@localhost'] }, 'one');
    await a.client.close();
    await b.client.close();
    const alice = await SealpostClient.open(a.profile);
    const bob = await SealpostClient.open(b.profile);
    try {
      await alice.send({ conversation }, 'two');
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['one', 'two']);
      expect(alice.messages(conversation).map((m) => m.text)).toEqual(['one', 'two']);
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
