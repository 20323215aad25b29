// The whole chat and file path on a server whose durable state is in PostgreSQL (`sealpost server --db`), against
// the real database in SEALPOST_TEST_POSTGRES_URL, in a schema of its own that is dropped afterwards.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

const url = process.env.SEALPOST_TEST_POSTGRES_URL;

describe.skipIf(!url)('a server on PostgreSQL', () => {
  let server: TestServer;
  let schema: string;
  beforeEach(async () => {
    schema = `sealpost_e2e_${randomBytes(6).toString('hex')}`;
    const db = new URL(url!);
    db.searchParams.set('schema', schema);
    server = await startTestServer({ db: db.toString() });
  });
  afterEach(async () => {
    await server.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('runs chat, group changes, files, and readiness', async () => {
    const alice = (await server.enroll('alice')).client;
    const bob = (await server.enroll('bob')).client;
    const carol = (await server.enroll('carol')).client;
    const dir = tempDir('pg');
    writeFileSync(join(dir, 'f.bin'), randomBytes(3 * 1024 * 1024));
    const { conversation } = await alice.send({ to: ['bob@localhost'] }, 'on postgres', { files: [join(dir, 'f.bin')] });
    const [msg] = (await bob.sync()) as ChatMessage[];
    expect(msg).toMatchObject({ text: 'on postgres' });
    await bob.saveAttachment(msg!.attachments![0]!.id, join(dir, 'g.bin'));
    expect(readFileSync(join(dir, 'g.bin')).equals(readFileSync(join(dir, 'f.bin')))).toBe(true);
    await bob.addMember(conversation, 'carol@localhost');
    await bob.send({ conversation }, 'hi carol');
    expect((await carol.sync()).map((m) => (m as ChatMessage).text)).toEqual(['hi carol']);
    expect((await alice.sync()).map((m) => (m as ChatMessage).text)).toEqual(['hi carol']);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const users = await c.query(`SELECT "user" FROM ${schema}.users ORDER BY 1`);
    await c.end();
    expect(users.rows.map((r) => r.user)).toEqual(['alice@localhost', 'bob@localhost', 'carol@localhost']);
  });
});

