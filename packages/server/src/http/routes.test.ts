// In-process request tests (fastify inject): error format, admin auth, body limits, strict schemas.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { defaultCiphersuite, limits, vrfPublicKey } from '@sealpost/protocol';
import { createServer, type SealpostServer } from '../server.js';
import { openSqliteStore } from '../store/sqlite.js';
import { createLocalBus } from '../bus/local.js';
import { sha256 } from '../auth/tokens.js';
import { createFsBlobStore } from '../blobs/fs-blob-store.js';
import { createRateLimiters } from './rate-limit.js';
import { loadServerSecret } from '../server-secret.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let server: SealpostServer;
let blobDir: string;
const admin = { authorization: 'Bearer the-admin-token' };

beforeEach(async () => {
  blobDir = mkdtempSync(join(tmpdir(), 'sealpost-blobs-'));
  const cs = await defaultCiphersuite();
  const orgKeys = await cs.signature.keygen();
  server = createServer({
    store: openSqliteStore(':memory:'),
    org: { publicKey: orgKeys.publicKey, privateKey: orgKeys.signKey },
    ktKeys: { signing: { publicKey: orgKeys.publicKey, privateKey: orgKeys.signKey }, vrf: { secretKey: new Uint8Array(32).fill(7), publicKey: vrfPublicKey(new Uint8Array(32).fill(7)) } },
    ktEpochMs: 60_000,
    bus: createLocalBus(),
    clock: { now: () => Date.now() },
    rateLimits: createRateLimiters({ now: () => Date.now() }),
    log: pino({ level: 'silent' }),
    cs,
    domain: 'localhost',
    adminTokenHash: sha256('the-admin-token'),
    metricsTokenHash: sha256('the-metrics-token'),
    secret: loadServerSecret(join(blobDir, 'server-secret'), true),
    activationTtlMs: 60_000,
    blobs: createFsBlobStore(blobDir),
    maxBlobBytes: 1024 * 1024,
    userQuotaBytes: 4 * 1024 * 1024,
  });
});
afterEach(async () => {
  await server.close();
  rmSync(blobDir, { recursive: true, force: true });
});

describe('HTTP API', () => {
  it('answers errors as {error:{code,message}}', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/v1/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'INVALID_INPUT', message: 'no route GET /v1/nothing' } });
  });

  it('refuses admin calls without the right token', async () => {
    const none = await server.app.inject({ method: 'GET', url: '/v1/admin/users' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('ADMIN_TOKEN_INVALID');
    const wrong = await server.app.inject({ method: 'GET', url: '/v1/admin/users', headers: { authorization: 'Bearer nope' } });
    expect(wrong.json().error.code).toBe('ADMIN_TOKEN_INVALID');
  });

  it('adds users in its own domain only, once', async () => {
    const ok = await server.app.inject({ method: 'POST', url: '/v1/admin/users', headers: admin, payload: { user: 'alice' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ user: 'alice@localhost', activationCode: expect.stringMatching(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/) });
    const again = await server.app.inject({ method: 'POST', url: '/v1/admin/users', headers: admin, payload: { user: 'alice@localhost' } });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('USER_EXISTS');
    const other = await server.app.inject({ method: 'POST', url: '/v1/admin/users', headers: admin, payload: { user: 'eve@evil.example' } });
    expect(other.json().error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('domain') });
  });

  it('refuses unknown keys, wrong types and oversized bodies with stable codes', async () => {
    const extra = await server.app.inject({ method: 'POST', url: '/v1/admin/users', headers: admin, payload: { user: 'bob', admin: true } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.code).toBe('INVALID_INPUT');
    const badJson = await server.app.inject({ method: 'POST', url: '/v1/admin/users', headers: { ...admin, 'content-type': 'application/json' }, payload: '{"user":' });
    expect(badJson.json().error.code).toBe('INVALID_INPUT');
    const big = await server.app.inject({ method: 'POST', url: '/v1/auth/challenge', payload: { device: 'x'.repeat(limits.maxJsonBodyBytes) } });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses device routes without a session', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/v1/keypackages/count' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('UNAUTHENTICATED');
    const bad = await server.app.inject({ method: 'GET', url: '/v1/keypackages/count', headers: { authorization: 'Bearer forged' } });
    expect(bad.json().error.code).toBe('UNAUTHENTICATED');
  });

  it('routes user ids of every valid length (up to 320 characters)', async () => {
    const long = `${'a'.repeat(64)}@${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.example`;
    const res = await server.app.inject({ method: 'POST', url: '/v1/admin/users', headers: admin, payload: { user: long } });
    expect(res.json().error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('domain') }); // routed, then refused by the schema
    const byPath = await server.app.inject({ method: 'GET', url: `/v1/admin/users/${encodeURIComponent(long)}/devices`, headers: admin });
    expect(byPath.json().error.code).not.toBe('INVALID_INPUT'); // not "no route": the router took the 250-character id
  });
});
