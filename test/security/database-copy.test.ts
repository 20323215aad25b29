// Attack: a database thief (design.md's threat model) copies sealpost.db and tries to forge what clients trust —
// wipe commands, removal notices, tree heads — or to test guesses at an activation code offline. Before, the
// organisation and key-transparency private keys were plaintext rows and codes were plain SHA-256. Now the private
// keys are sealed under the server secret, a file outside the database, and codes are HMACs under it: the copy
// holds no private key, does not confirm a code, and a server given the copy without the secret refuses to start.
import Database from 'better-sqlite3';
import { cpSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startServer } from '@sealpost/server';
import { toBase64Url } from '@sealpost/protocol';
import { createHash } from 'node:crypto';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

it('a copy of the database holds no private key and confirms no activation code', async () => {
  server = await startTestServer();
  const { activationCode } = await server.addUser('carol');
  const ctx = server.started.server.ctx;
  const dbFile = join(server.dataDir, 'sealpost.db');
  const db = new Database(dbFile, { readonly: true });
  const meta = Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
  const code = db.prepare("SELECT code_hash FROM activation_codes WHERE user = 'carol@localhost'").get() as { code_hash: Buffer };
  db.close();
  for (const [name, key] of [['org_signing_key', ctx.org.privateKey], ['kt_signing_key', ctx.ktKeys.signing.privateKey], ['kt_vrf_key', ctx.ktKeys.vrf.secretKey]] as const) {
    expect(meta[name]).toMatch(/^[A-Za-z0-9_-]+\.sealed1\./);
    expect(meta[name]).not.toContain(toBase64Url(key));
  }
  const raw = readFileSync(dbFile);
  expect(raw.includes(Buffer.from(ctx.org.privateKey))).toBe(false);
  // The stored code is not the SHA-256 a thief could test guesses against.
  const sha = createHash('sha256').update(`sealpost-activation\0${activationCode.replace(/-/g, '')}`).digest();
  expect(Buffer.compare(code.code_hash, sha)).not.toBe(0);
});

it('a server given the database without its secret refuses to start, and says why', async () => {
  server = await startTestServer();
  await server.addUser('carol');
  const copy = tempDir('stolen');
  mkdirSync(copy, { recursive: true });
  for (const f of readdirSync(server.dataDir).filter((f) => f.startsWith('sealpost.db'))) cpSync(join(server.dataDir, f), join(copy, f)); // with its WAL
  await expect(startServer({ dataDir: copy, host: '127.0.0.1', port: 0, domain: 'localhost', logLevel: 'silent' })).rejects.toMatchObject({
    code: 'CONFIG_INVALID',
    message: expect.stringMatching(/server secret/),
  });
});
