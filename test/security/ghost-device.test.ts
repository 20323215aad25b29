// Attacks on the directory by a malicious operator, and how key transparency catches each:
// - an extra device written straight into the database: other clients refuse it, the user's own devices alarm;
// - a swapped account key: kept out of the log, every client refuses it; put in the log, the user's devices alarm;
//   swapped in and back again before the user's device looks: its monitoring still sees the version in between;
// - a log entry dropped: the auditor's replay fails, and the server refuses to serve a log that does not rebuild;
// - a tree head that forks between two clients, and an old head replayed: the client's checks refuse both.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  GroupEngine,
  decodeSearchResponse,
  defaultCiphersuite,
  fromBase64Url,
  newDeviceId,
  parseUserId,
  signTreeHead,
  verifySearch,
  type KtKeys,
} from '@sealpost/protocol';
import { HttpApi, KtAuditor, SealpostClient } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { fakeReset, markPending, writeOperatorList } from '../operator.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

const db = () => new Database(join(server.dataDir, 'sealpost.db'));
const meta = (key: string): string => {
  const d = db();
  try {
    return (d.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value;
  } finally {
    d.close();
  }
};
/** The operator holds the server's keys (the database and the server secret beside it). */
const operatorKeys = () => server.started.server.ctx;
const sessionOf = (c: SealpostClient) => (c as unknown as { sessionToken(): Promise<string> }).sessionToken();

describe('a ghost device', () => {
  it('is refused by other clients and raises the alarm on the user\'s own devices', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    expect((await alice.client.monitorSelf()).ok).toBe(true);

    const engine = await GroupEngine.create(async () => true); // test double: the operator's own engine
    const ghost = { user: parseUserId('alice@localhost'), device: newDeviceId() };
    const keys = await engine.generateSignatureKeyPair();
    // Of the suite new conversations use (pq-hybrid by default), so the server hands it out.
    const kp = await engine.createKeyPackage(ghost, keys, 'pq-hybrid');
    const d = db();
    d.prepare('INSERT INTO devices (id, user, name, signature_key, created_at) VALUES (?, ?, ?, ?, ?)').run(ghost.device, ghost.user, 'ghost', keys.publicKey, Date.now());
    d.prepare('INSERT INTO key_packages (ref, device, data, last_resort, suite) VALUES (?, ?, ?, 0, ?)').run(kp.ref, ghost.device, kp.publicBytes, 'pq-hybrid');
    d.close();

    await bob.client.send({ to: ['alice@localhost'] }, 'for alice only');
    expect(bob.warnings.join('\n')).toMatch(new RegExp(`refused a KeyPackage for device ${ghost.device}`));
    const self = await alice.client.monitorSelf();
    expect(self.ok).toBe(false);
    expect(self.problems.join('\n')).toMatch(new RegExp(`never approved: ${ghost.device}`));
    expect(alice.warnings.join('\n')).toMatch(/KEY TRANSPARENCY ALARM/);
  });
});

/**
 * The operator writes its own device list for alice over hers (and queues it for the log). With `fakeReset`, it
 * first makes the database look like an admin reset, which the server publishes as a retirement: a server refuses
 * to publish a new account key that follows none.
 */
async function swapAccountKey(publish: boolean, publishReset?: () => Promise<void>): Promise<void> {
  if (publishReset) {
    fakeReset(server.dataDir, 'alice@localhost');
    await publishReset(); // published: the retirement
  }
  await writeOperatorList(server.dataDir, 'alice@localhost', publish);
}

/** Makes the server publish an epoch now (a search for a label that changed publishes at once). */
const publishNow = (asker: SealpostClient) => async () => {
  const res = await fetch(`${server.url}/v1/kt/search/alice%40localhost`, { headers: { authorization: `Bearer ${await sessionOf(asker)}` } });
  expect(res.status).toBe(200);
};

describe('a swapped account key', () => {
  const swap = swapAccountKey;

  it('kept out of the log: no client trusts it', async () => {
    const alice = await server.enroll('alice');
    const carol = await server.enroll('carol');
    await alice.client.sync(); // alice's record is in the log
    await swap(false);
    await expect(carol.client.send({ to: ['alice@localhost'] }, 'hello')).rejects.toMatchObject({ code: 'DEVICE_LIST_INVALID' });
  });

  it('queued for the log: the server refuses to publish it, and the user\'s own device raises the alarm', async () => {
    const alice = await server.enroll('alice');
    const carol = await server.enroll('carol');
    await alice.client.sync();
    await swap(true);
    await publishNow(carol.client)();
    expect(server.logs.join('')).toMatch(/refusing to publish a new account key that follows no reset/);
    const self = await alice.client.monitorSelf();
    expect(self.ok).toBe(false);
  });

  it('put in the log after a faked reset: the user\'s own device raises the alarm', async () => {
    const alice = await server.enroll('alice');
    const carol = await server.enroll('carol');
    await alice.client.sync();
    await swap(true, publishNow(carol.client));
    await publishNow(carol.client)();
    const self = await alice.client.monitorSelf();
    expect(self.ok).toBe(false);
    expect(self.problems.join('\n')).toMatch(/retires this account: none of your devices made it/);
    expect(self.problems.join('\n')).toMatch(/account key that is not this account's/);
  });
});

describe('a key swapped in and back between two checks', () => {
  it('is caught by the user\'s own device: monitoring proves every version, not only the latest', async () => {
    const alice = await server.enroll('alice');
    const carol = await server.enroll('carol');
    expect((await alice.client.monitorSelf()).ok).toBe(true);
    const d = db();
    const original = d.prepare("SELECT version, account_key, body, signature FROM device_lists WHERE user = 'alice@localhost'").get() as Record<string, unknown>;
    d.close();
    // The operator fakes a reset (version 2, a retirement), publishes its own account key for alice (version 3),
    // lets it be seen, then fakes another reset (4) and puts the real record back (5), so that the latest version
    // looks exactly as alice's devices left it.
    const publish = publishNow(carol.client);
    await swapAccountKey(true, publish);
    await publish();
    fakeReset(server.dataDir, 'alice@localhost');
    await publish();
    const d2 = db();
    d2.prepare('INSERT INTO device_lists (user, version, account_key, body, signature) VALUES (?, ?, ?, ?, ?)').run('alice@localhost', original.version, original.account_key, original.body, original.signature);
    markPending(d2, 'alice@localhost');
    d2.close();
    await publish();
    const self = await alice.client.monitorSelf();
    expect(self.kt.version).toBe(5);
    expect(self.ok).toBe(false);
    expect(self.problems.join('\n')).toMatch(/version 3 in the log carries an account key that is not this account's/);
    expect(alice.warnings.join('\n')).toMatch(/KEY TRANSPARENCY ALARM/);
  });
});

describe('the log itself', () => {
  it('with an entry dropped fails the audit, and the server refuses to load it', async () => {
    await server.enroll('alice');
    await server.enroll('bob');
    await server.enroll('carol');
    const alice = await server.enroll('dave');
    await alice.client.sync();
    const d = db();
    const victim = d.prepare("SELECT epoch, label, version FROM kt_updates WHERE label = 'bob@localhost'").get() as { epoch: number; label: string; version: number };
    d.prepare('DELETE FROM kt_updates WHERE label = ? AND version = ?').run(victim.label, victim.version);
    d.close();
    const outcome = await new KtAuditor(server.url, tempDir('auditor')).replay();
    expect(outcome).toMatchObject({ kind: 'failed', epoch: victim.epoch });
    expect((outcome as { reason: string }).reason).toMatch(/prefix root is not what its insertions give/);
    // A node starting on this database (after a restart) will not serve the damaged log.
    const { startServer } = await import('@sealpost/server');
    await server.started.close();
    // It says what is wrong (a tampered database), not that it cannot listen.
    await expect(startServer({ dataDir: server.dataDir, host: '127.0.0.1', port: 0, domain: 'localhost', logLevel: 'silent' })).rejects.toMatchObject({
      code: 'STORE_TAMPERED',
      message: expect.stringMatching(/prefix root does not match/),
    });
  });

  it('refuses a tree head that forks from the one this client saw, and an old head replayed', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.sync();
    const api = new HttpApi(server.url);
    const search = async () => {
      const res = await fetch(`${server.url}/v1/kt/search/bob%40localhost`, { headers: { authorization: `Bearer ${await sessionOf(alice.client)}` } });
      return decodeSearchResponse(fromBase64Url(((await res.json()) as { proof: string }).proof)!);
    };
    const info = await api.request<{ kt: { signatureKey: string; vrfKey: string } }>('GET', '/v1/info', undefined, 'none');
    const keys: KtKeys = { signatureKey: fromBase64Url(info.kt.signatureKey)!, vrfKey: fromBase64Url(info.kt.vrfKey)! };
    const cs = await defaultCiphersuite();

    const old = await search();
    expect((await verifySearch(cs.signature, keys, 'bob@localhost', old)).kind).toBe('ok');
    await server.link(bob); // the log grows
    const fresh = await search();
    const seen = fresh.head;
    expect((await verifySearch(cs.signature, keys, 'bob@localhost', fresh, seen)).kind).toBe('ok');

    // Replayed: the old answer after this client saw a newer head.
    expect(await verifySearch(cs.signature, keys, 'bob@localhost', old, seen)).toEqual({ kind: 'rejected', reason: 'stale-head' });

    // Forked: the operator signs another head of the same size (it holds the key; it cannot make both heads one).
    const signing = operatorKeys().ktKeys.signing;
    const forkedRoot = new Uint8Array(seen.root);
    forkedRoot[0]! ^= 1;
    const forked = { ...fresh, head: await signTreeHead(cs.signature, signing.privateKey, { size: seen.size, root: forkedRoot, timestamp: seen.timestamp }) };
    expect(await verifySearch(cs.signature, keys, 'bob@localhost', forked, seen)).toEqual({ kind: 'rejected', reason: 'forked-head' });
    // Shown to a client that never saw the real head, the fork is caught where heads meet: the auditor's head.
    const auditor = new KtAuditor(server.url, tempDir('auditor-fork'));
    await auditor.replay();
    expect(auditor.head(seen.size)?.root).not.toBe(Buffer.from(forkedRoot).toString('base64url'));
    expect(await verifySearch(cs.signature, keys, 'bob@localhost', forked)).toEqual({ kind: 'rejected', reason: 'epoch-not-in-head' });
  });
});
