// The ServerStore contract against a real PostgreSQL (SEALPOST_TEST_POSTGRES_URL; .ci/run sets it). Each test uses
// its own schema and drops it afterwards. Without the variable these tests are reported as skipped.
import { randomBytes } from 'node:crypto';
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
