// Two server nodes sharing one PostgreSQL and one NATS: clients on different nodes talk, and a message accepted on
// one node is pushed live to a device connected to the other. Needs SEALPOST_TEST_POSTGRES_URL and
// SEALPOST_TEST_NATS_URL (.ci/run sets both); skipped otherwise.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { startServer, type StartedServer } from '@sealpost/server';
import { startTestServer, tempDir, watchChats, type TestServer } from '../helpers.js';

const pgUrl = process.env.SEALPOST_TEST_POSTGRES_URL;
const natsUrl = process.env.SEALPOST_TEST_NATS_URL;

describe.skipIf(!pgUrl || !natsUrl)('two nodes over PostgreSQL and NATS', () => {
  let nodeA: TestServer;
  let nodeB: StartedServer;
  let schema: string;
  beforeEach(async () => {
    schema = `sealpost_e2e_${randomBytes(6).toString('hex')}`;
    const db = new URL(pgUrl!);
    db.searchParams.set('schema', schema);
    nodeA = await startTestServer({ db: db.toString(), bus: natsUrl! });
    // Node B shares the database, the bus and the data folder (blobs, keys), as nodes behind a load balancer do.
    nodeB = await startServer({
      dataDir: nodeA.dataDir,
      db: db.toString(),
      bus: natsUrl!,
      host: '127.0.0.1',
      port: 0,
      domain: 'localhost',
      logDestination: new Writable({ write: (_c, _e, cb) => cb() }),
    });
  });
  afterEach(async () => {
    await nodeB.close();
    await nodeA.close();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('delivers across nodes, live', async () => {
    const alice = (await nodeA.enroll('alice')).client;
    const { activationCode } = await nodeA.addUser('bob');
    const bob = await SealpostClient.enroll({ server: nodeB.url, user: 'bob@localhost', code: activationCode, profile: tempDir('bob-b') });
    try {
      const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'from node A');
      // Bob watches on node B; Alice keeps sending through node A.
      const watch = watchChats(bob);
      await watch.until(1);
      for (let i = 0; i < 5; i++) await alice.send({ conversation }, `live ${i}`);
      await watch.until(6);
      await watch.stop();
      expect(watch.seen.map((m) => m.text)).toEqual(['from node A', 'live 0', 'live 1', 'live 2', 'live 3', 'live 4']);
      await bob.send({ conversation }, 'from node B');
      expect((await alice.sync()).map((m) => (m as { text: string }).text)).toEqual(['from node B']);
    } finally {
      await bob.close();
    }
  });

  it('a device watching on one node gets every message of many conversations sent through both nodes, once', async () => {
    // Concurrent transactions on PostgreSQL and two nodes publishing independently: the device sees some items
    // with a lower seq after higher ones, across and within conversations. Nothing may be skipped or shown twice.
    const { activationCode } = await nodeA.addUser('bob');
    const bob = await SealpostClient.enroll({ server: nodeB.url, user: 'bob@localhost', code: activationCode, profile: tempDir('bob-b') });
    const senders: SealpostClient[] = [];
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 0) senders.push((await nodeA.enroll(`s${i}`)).client);
      else {
        const { activationCode: code } = await nodeA.addUser(`s${i}`);
        senders.push(await SealpostClient.enroll({ server: nodeB.url, user: `s${i}@localhost`, code, profile: tempDir(`s${i}-b`) }));
      }
    }
    try {
      const conversations = await Promise.all(senders.map((s, i) => s.send({ to: ['bob@localhost'] }, `s${i} 0`).then((r) => r.conversation)));
      const watch = watchChats(bob);
      await watch.until(6);
      const PER_SENDER = 20;
      await Promise.all(
        senders.map(async (s, i) => {
          for (let k = 1; k <= PER_SENDER; k++) await s.send({ conversation: conversations[i]! }, `s${i} ${k}`);
        }),
      );
      await watch.until(6 * (PER_SENDER + 1));
      await watch.stop();
      const texts = watch.seen.map((m) => m.text);
      expect(texts).toHaveLength(6 * (PER_SENDER + 1));
      expect(new Set(texts).size).toBe(texts.length);
      // Within each conversation, in the order sent.
      for (let i = 0; i < 6; i++) {
        expect(texts.filter((t) => t.startsWith(`s${i} `))).toEqual(Array.from({ length: PER_SENDER + 1 }, (_v, k) => `s${i} ${k}`));
      }
    } finally {
      await bob.close();
      for (const [i, s] of senders.entries()) if (i % 2 === 1) await s.close();
    }
  });
});
