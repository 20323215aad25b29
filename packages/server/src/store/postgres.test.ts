// The ServerStore contract against a real PostgreSQL (SEALPOST_TEST_POSTGRES_URL; .ci/run sets it). Each test uses
// its own schema and drops it afterwards. Without the variable these tests are reported as skipped.
import { randomBytes } from 'node:crypto';
import { newConversationId, newDeviceId, newMessageId, parseUserId, type DeviceId, type UserId } from '@sealpost/protocol';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runStoreContract } from './contract.testkit.js';
import { openPostgresStore, type PostgresStore } from './postgres.js';
import { postgresMigrations } from './postgres-migrations.js';

const url = process.env.SEALPOST_TEST_POSTGRES_URL;

async function freshStore(): Promise<PostgresStore> {
  const schema = `sealpost_test_${randomBytes(6).toString('hex')}`;
  const store = await openPostgresStore({ url: url!, schema, poolSize: 4 });
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  };
  return store;
}

describe.skipIf(!url)('PostgreSQL store', () => {
  runStoreContract('postgres', freshStore);

  it('refuses a message from a device whose removal commits while the message waits for the conversation', async () => {
    const store = await freshStore();
    const h = (n: number) => new Uint8Array(32).fill(n);
    const enrolled = async (user: UserId): Promise<DeviceId> => {
      const device = newDeviceId();
      await store.createUser({ user, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 1000 });
      const deviceList = { version: 1, accountKey: h(8), body: h(7), signature: h(6) };
      await store.enroll({ user, codeHash: h(1), now: 10, maxAttempts: 3, device: { id: device, name: undefined, signatureKey: h(9) }, deviceList, keyPackages: [], lastResort: { ref: `${device}-last`, data: h(99) } });
      return device;
    };
    const remover = await store.pool.connect();
    try {
      const alice = parseUserId('alice@localhost');
      const bob = parseUserId('bob@localhost');
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 2 });
      // A commit that removes bob holds the conversation's row; bob (a modified client) sends at the new epoch.
      await remover.query('BEGIN');
      await remover.query('SELECT epoch FROM conversations WHERE id = $1 FOR UPDATE', [c]);
      await remover.query('DELETE FROM conversation_members WHERE conversation = $1 AND device = $2', [c, b]);
      await remover.query('UPDATE conversations SET epoch = 2 WHERE id = $1', [c]);
      const sent = store.appendMessage({ conversation: c, sender: { device: b, user: bob }, epoch: 2, id: newMessageId(), payload: h(3), now: 3 });
      // Commit only once the append's statement waits for the row lock (bounded wait).
      for (let i = 0; i < 100; i++) {
        const waiting = await store.pool.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%WITH input AS%'");
        if (waiting.rowCount) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await remover.query('COMMIT');
      expect(await sent).toEqual({ kind: 'not-member' });
      expect(await store.fetchQueue(a, 0, 10)).toEqual([]);
    } finally {
      remover.release();
      await store.close();
    }
  });

  it('migrates once even when two nodes start together', async () => {
    const schema = `sealpost_test_${randomBytes(6).toString('hex')}`;
    try {
      const [a, b] = await Promise.all([openPostgresStore({ url: url!, schema }), openPostgresStore({ url: url!, schema })]);
      expect((await a.pool.query('SELECT COUNT(*)::int AS n FROM schema_migrations')).rows[0].n).toBe(postgresMigrations.length);
      expect(await b.ping()).toBe(true);
      await a.close();
      await b.close();
    } finally {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  });
});
