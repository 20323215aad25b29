// Delivery guarantees a user notices: offline delivery in order, never twice, nothing lost to a client crash or to
// queue items that become visible out of order across conversations, concurrent membership changes that converge,
// and live push.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import type { QueueItem } from '@sealpost/protocol';
import { chats, startTestServer, watchChats, type TestServer } from '../helpers.js';

/** A client that crashes after processing a batch and before acking it. */
const crashBeforeAck = {
  testHooks: {
    beforeAck: () => {
      throw new Error('simulated crash before ack');
    },
  },
};

/** The client's internals the out-of-order tests drive, to hand it real queue items in an order of their choosing. */
type QueueSocket = { request(f: { t: 'fetch'; after: number; limit: number }): Promise<{ items: QueueItem[] }> };
function internalsOf(client: SealpostClient) {
  return client as unknown as {
    socket(): Promise<QueueSocket>;
    serial<T>(f: () => Promise<T>): Promise<T>;
    processItems(s: QueueSocket, items: QueueItem[]): Promise<void>;
    handlePush(s: QueueSocket, item: QueueItem): Promise<void>;
    store: { processedCount(): number };
  };
}

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

describe('offline delivery', () => {
  it('delivers what was sent while a device was offline, in order per conversation, once', async () => {
    const alice = (await server.enroll('alice')).client;
    const carol = (await server.enroll('carol')).client;
    const b = await server.enroll('bob');
    const one = await alice.send({ to: ['bob@localhost'] }, 'a0');
    const two = await carol.send({ to: ['bob@localhost'] }, 'c0');
    await b.client.close(); // bob goes offline
    for (let i = 1; i <= 15; i++) {
      await alice.send({ conversation: one.conversation }, `a${i}`);
      if (i % 3 === 0) await carol.send({ conversation: two.conversation }, `c${i / 3}`);
    }
    const bob = await SealpostClient.open(b.profile);
    try {
      const got = chats(await bob.sync());
      const texts = (conv: string) => got.filter((m) => m.conversation === conv).map((m) => m.text);
      expect(texts(one.conversation)).toEqual(Array.from({ length: 16 }, (_, i) => `a${i}`));
      expect(texts(two.conversation)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
      expect(chats(await bob.sync())).toEqual([]);
    } finally {
      await bob.close();
    }
  });

  it('loses nothing and shows nothing twice when the client crashes between processing and acking', async () => {
    const alice = (await server.enroll('alice')).client;
    const crashy = await server.enroll('bob', crashBeforeAck);
    const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'first');
    await alice.send({ conversation }, 'second');
    await expect(crashy.client.sync()).rejects.toThrow('simulated crash before ack');
    await crashy.client.close();

    const bob = await SealpostClient.open(crashy.profile);
    try {
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['first', 'second']);
      expect(chats(await bob.sync())).toEqual([]);
      await alice.send({ conversation }, 'third');
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['third']);
      expect(bob.messages(conversation).map((m) => m.text)).toEqual(['first', 'second', 'third']);
    } finally {
      await bob.close();
    }
  });
});

describe('queue items visible out of order across conversations', () => {
  // With several nodes on PostgreSQL, two messages for one device from different conversations are stored by
  // concurrent transactions: the one with the lower seq can commit, and so become visible, after the other. (Within
  // a conversation this cannot happen: its row is locked until commit.) Here the server's own database is edited
  // to produce exactly that: bob's queue row for alice's message is taken away and put back, with its seq, after
  // carol's later message has been processed.
  it('still delivers the message whose lower seq became visible later', async () => {
    const alice = (await server.enroll('alice')).client;
    const carol = (await server.enroll('carol')).client;
    const bob = (await server.enroll('bob')).client;
    const one = await alice.send({ to: ['bob@localhost'] }, 'a0');
    const two = await carol.send({ to: ['bob@localhost'] }, 'c0');
    expect(chats(await bob.sync()).map((m) => m.text).sort()).toEqual(['a0', 'c0']);

    await alice.send({ conversation: one.conversation }, 'a1');
    const db = new Database(join(server.dataDir, 'sealpost.db'));
    try {
      const late = db.prepare('SELECT seq, device, message FROM queue WHERE device = ? ORDER BY seq DESC LIMIT 1').get(bob.device) as { seq: number; device: string; message: number };
      db.prepare('DELETE FROM queue WHERE seq = ?').run(late.seq);
      await carol.send({ conversation: two.conversation }, 'c1');
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['c1']);
      db.prepare('INSERT INTO queue (seq, device, message) VALUES (?, ?, ?)').run(late.seq, late.device, late.message);
    } finally {
      db.close();
    }
    expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['a1']);
    expect(chats(await bob.sync())).toEqual([]);
    expect(bob.messages(one.conversation).map((m) => m.text)).toEqual(['a0', 'a1']);
  });
});

describe('pushes out of order', () => {
  // Two nodes publish independently, so a device can be pushed a conversation's items in the other order. The
  // client's internals are driven directly to deliver two real queue items that way.
  it('processes each item once, whatever order it comes in, and forgets what was acked', async () => {
    const alice = (await server.enroll('alice')).client;
    const warnings: string[] = [];
    const b = await server.enroll('bob', { warn: (m) => warnings.push(m) });
    const bob = b.client;
    const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'a0');
    expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['a0']);
    await alice.send({ conversation }, 'a1');
    await alice.send({ conversation }, 'a2');

    const internals = internalsOf(bob);
    const sock = await internals.socket();
    const { items } = await sock.request({ t: 'fetch', after: 0, limit: 10 });
    expect(items).toHaveLength(2);
    await internals.serial(() => internals.processItems(sock, [items[1]!]));
    await internals.serial(() => internals.processItems(sock, [items[0]!]));
    // Pushed again (a second node's copy, or a fetch racing the ack): acked, not processed again.
    await internals.serial(() => internals.processItems(sock, [items[0]!, items[1]!]));

    expect(chats(await bob.sync()).map((m) => m.text).sort()).toEqual(['a1', 'a2']);
    expect(warnings).toEqual([]);
    expect(bob.messages(conversation).map((m) => m.text).sort()).toEqual(['a0', 'a1', 'a2']);
    // Once the acks have reached the server, a full pass forgets the processed seqs (bounded wait for the acks).
    for (let i = 0; i < 50 && internals.store.processedCount() > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await bob.sync();
    }
    expect(internals.store.processedCount()).toBe(0);
  });
});

describe('pushes ahead of the state', () => {
  it('takes a message pushed before the commit it depends on, after that commit, without a warning', async () => {
    const alice = (await server.enroll('alice')).client;
    await server.enroll('carol');
    const warnings: string[] = [];
    const bob = (await server.enroll('bob', { warn: (m) => warnings.push(m) })).client;
    const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'hello');
    expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['hello']);
    // A commit (carol joins: a new epoch), then a message of the new epoch; bob is pushed them in the other order.
    await alice.addMember(conversation, 'carol@localhost');
    await alice.send({ conversation }, 'carol is here');

    const internals = internalsOf(bob);
    const sock = await internals.socket();
    const { items } = await sock.request({ t: 'fetch', after: 0, limit: 10 });
    expect(items.map((i) => i.k)).toEqual(['commit', 'app']);
    await internals.serial(() => internals.handlePush(sock, items[1]!));
    await internals.serial(() => internals.handlePush(sock, items[0]!));

    expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['carol is here']);
    expect(warnings).toEqual([]);
    expect(bob.conversations().find((c) => c.id === conversation)?.members.sort()).toEqual(['alice@localhost', 'bob@localhost', 'carol@localhost']);
  });
});

describe('profile upgrade', () => {
  it('a profile from before the processed-seq table does not process again what it processed but had not acked', async () => {
    const alice = (await server.enroll('alice')).client;
    const crashy = await server.enroll('bob', crashBeforeAck);
    const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'first');
    await expect(crashy.client.sync()).rejects.toThrow('simulated crash before ack');
    await crashy.client.close();
    // Turn the profile back into the previous format: one device-wide mark in meta, no processed_seqs.
    const db = new Database(join(crashy.profile, 'profile.db'));
    try {
      const { mark } = db.prepare('SELECT MAX(seq) AS mark FROM processed_seqs').get() as { mark: number };
      db.exec('DROP TABLE processed_seqs');
      db.prepare("INSERT INTO meta (key, value) VALUES ('last_seq', ?)").run(Buffer.from(String(mark)));
      db.pragma('user_version = 5');
    } finally {
      db.close();
    }
    const warnings: string[] = [];
    const bob = await SealpostClient.open(crashy.profile, { warn: (m) => warnings.push(m) });
    try {
      // Shown once (it was stored as unseen before the crash), and not processed again: no replay warning.
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['first']);
      expect(warnings).toEqual([]);
      await alice.send({ conversation }, 'second');
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['second']);
      expect(bob.messages(conversation).map((m) => m.text)).toEqual(['first', 'second']);
    } finally {
      await bob.close();
    }
  });
});

describe('concurrent commits', () => {
  it('two members change the group in the same epoch: one wins, the other re-syncs and retries; no fork', async () => {
    // Both commits are made before either is sent: a barrier holds each one until both exist.
    let arrived = 0;
    let release!: () => void;
    const bothReady = new Promise<void>((r) => (release = r));
    const barrier = async () => {
      if (++arrived === 2) release();
      // Bounded, so a broken run fails with a message instead of waiting forever.
      await Promise.race([bothReady, new Promise((_, fail) => setTimeout(() => fail(new Error('the other commit never came')), 20_000))]);
    };
    const a = await server.enroll('alice');
    const b = await server.enroll('bob');
    await server.enroll('dave');
    await server.enroll('erin');
    const { conversation } = await a.client.send({ to: ['bob@localhost'] }, 'start');
    await b.client.sync();
    await a.client.close();
    await b.client.close();
    const alice = await SealpostClient.open(a.profile, { testHooks: { beforeCommitSend: barrier }, warn: (m) => a.warnings.push(m) });
    const bob = await SealpostClient.open(b.profile, { testHooks: { beforeCommitSend: barrier }, warn: (m) => b.warnings.push(m) });
    try {
      await Promise.all([alice.addMember(conversation, 'dave@localhost'), bob.addMember(conversation, 'erin@localhost')]);
      const retried = [...a.warnings, ...b.warnings].filter((w) => w.includes('another member'));
      expect(retried).toHaveLength(1);
      await alice.sync();
      await bob.sync();
      const everyone = ['alice@localhost', 'bob@localhost', 'dave@localhost', 'erin@localhost'];
      expect(alice.conversations()[0]!.members).toEqual(everyone);
      expect(bob.conversations()[0]!.members).toEqual(everyone);
      // No fork: a message from each side decrypts everywhere.
      await alice.send({ conversation }, 'from alice');
      await bob.send({ conversation }, 'from bob');
      expect(chats(await alice.sync()).map((m) => m.text)).toEqual(['from bob']);
      expect(chats(await bob.sync()).map((m) => m.text)).toEqual(['from alice']);
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});

describe('watch', () => {
  it('pushes messages to a connected device as they arrive', async () => {
    const alice = (await server.enroll('alice')).client;
    const bob = (await server.enroll('bob')).client;
    const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'before watch');
    const watch = watchChats(bob);
    await watch.until(1);
    for (let i = 0; i < 3; i++) await alice.send({ conversation }, `live ${i}`);
    await watch.until(4);
    await watch.stop();
    expect(watch.seen.map((m) => m.text)).toEqual(['before watch', 'live 0', 'live 1', 'live 2']);
    expect(chats(await bob.sync())).toEqual([]);
  });
});
