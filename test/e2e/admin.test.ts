// Administration, end to end: disable/enable, device revoke and remote wipe, account reset, policies, the
// hash-linked audit log, lookup, named admin credentials. None of it gives anyone access to content.
import Database from 'better-sqlite3';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GroupEngine, verifyAuditLog, type AuditEntry, type ConversationId } from '@sealpost/protocol';
import { nodeCiphersuite } from '@sealpost/crypto';
import { HttpApi, ProfileStore, SealpostClient } from '@sealpost/client';
import { chats, startTestServer, tempDir, watchChats, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await server.close();
});

type AuditRow = { seq: number; atMs: number; actor: string; action: string; target: string; details: AuditEntry['details']; prevHash: string; hash: string };
const auditLog = async () => (await server.adminRequest<{ entries: AuditRow[] }>('GET', '/v1/admin/audit')).entries;
const asEntries = (rows: AuditRow[]): AuditEntry[] =>
  rows.map((r) => ({ ...r, at: r.atMs, prevHash: new Uint8Array(Buffer.from(r.prevHash, 'hex')), hash: new Uint8Array(Buffer.from(r.hash, 'hex')) }));

/** Let wall-clock time pass for retention tests (the server and the clients share this process's clock). */
function advanceClock(ms: number): void {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() + ms);
}

describe('users', () => {
  it('a disabled user cannot sign in until enabled again', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.send({ to: ['bob@localhost'] }, 'one');
    await server.adminRequest('POST', '/v1/admin/users/bob@localhost/disable', {});
    await expect(bob.client.sync()).rejects.toMatchObject({ code: 'USER_DISABLED' });
    await server.adminRequest('POST', '/v1/admin/users/bob@localhost/enable', {});
    expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['one']);
  });

  it('reset: the old device is out, a new device enrolls with a new account key, and contacts see the safety number change', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'before the reset');
    await bob.client.sync();
    const reset = await server.adminRequest<{ activationCode: string; devicesRevoked: string[] }>('POST', '/v1/admin/users/bob@localhost/reset', {});
    expect(reset.devicesRevoked).toEqual([bob.client.device]);
    await expect(bob.client.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });

    // Alice's client committed the removal of bob's old device.
    await alice.client.sync();
    expect(alice.client.conversations().find((c) => c.id === conversation)?.members).toEqual(['alice@localhost']);

    const profile = tempDir('bob-new');
    const bob2 = server.track(await SealpostClient.enroll({ server: server.url, user: 'bob@localhost', code: reset.activationCode, profile }));
    // The new key is in its contest period (a day by default): alice's message waits in her outbox, and says why.
    const sent = await alice.client.send({ to: ['bob@localhost'] }, 'after the reset');
    expect(sent.held?.users).toEqual(['bob@localhost']);
    expect(sent.held?.reason).toMatch(/retires the old key at version \d+\); the new key is not used until/);
    expect(alice.client.heldMessages().map((h) => h.id)).toEqual([sent.id]);
    expect(chats(await bob2.sync())).toEqual([]);
    const seen = await alice.client.verifyUser('bob@localhost');
    expect(seen.keyChange).toMatchObject({ status: 'pending', until: expect.any(String) });
    // Comparing the new number with bob uses the key at once: the held message goes out.
    const confirmed = await alice.client.verifyUser('bob@localhost', { confirm: seen.safetyNumber.replace(/\s/g, '') });
    expect(alice.warnings.join('\n')).toMatch(/safety number with bob@localhost has changed.*was \d{5}( \d{5}){11}, now \d{5}( \d{5}){11}. You compared the new number/);
    expect(confirmed.keyChanges).toEqual([{ at: expect.any(String), acknowledged: true }]);
    expect(alice.client.heldMessages()).toEqual([]);
    expect(chats(await bob2.sync()).map((m) => m.text)).toEqual(['after the reset']);
    expect(alice.client.unacknowledgedKeyChanges()).toEqual([]);
  });
});

describe('devices', () => {
  it('revoke: the device is removed from every conversation promptly, even an idle one, and can no longer connect', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const carol = await server.enroll('carol');
    const { conversation } = await alice.client.send({ to: ['bob@localhost', 'carol@localhost'] }, 'hello');
    await bob.client.sync();
    await carol.client.sync();

    // Alice's device is idle but connected (watch); nobody sends anything.
    const before = readEpoch(server.dataDir, conversation);
    const watching = watchChats(alice.client);
    await new Promise((r) => setTimeout(r, 200));
    const revokedAt = Date.now();
    await server.adminRequest('POST', `/v1/admin/users/bob@localhost/devices/${bob.client.device}/revoke`, {});
    const deadline = Date.now() + 10_000;
    let members: string[] = [];
    while (Date.now() < deadline) {
      members = (await server.started.server.app.inject({ method: 'GET', url: `/v1/conversations/${conversation}`, headers: { authorization: `Bearer ${await tokenOf(carol.client)}` } })).json().members;
      const epochs = readEpoch(server.dataDir, conversation);
      if (epochs > before) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`removal committed ${Date.now() - revokedAt} ms after the revoke (idle conversation, one member watching)`);
    await watching.stop();
    // One commit, by one member, removed the device (the others found it done).
    expect(readEpoch(server.dataDir, conversation)).toBe(before + 1);
    expect(members).not.toContain(bob.client.device);
    await carol.client.sync();
    expect(carol.client.conversations().find((c) => c.id === conversation)?.members).toEqual(['alice@localhost', 'carol@localhost']);
    await expect(bob.client.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });
    const list = await server.adminRequest<{ devices: { id: string; status: string }[] }>('GET', '/v1/admin/users/bob@localhost/devices');
    expect(list.devices).toEqual([expect.objectContaining({ id: bob.client.device, status: 'revoked' })]);
  });

  it('wipe: the device erases its keys and messages and confirms; a copy taken before cannot read what follows', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const carol = await server.enroll('carol');
    const { conversation } = await alice.client.send({ to: ['bob@localhost', 'carol@localhost'] }, 'before the wipe');
    expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['before the wipe']);
    const copy = tempDir('bob-copy');
    cpSync(bob.profile, copy, { recursive: true });

    await server.adminRequest('POST', `/v1/admin/users/bob@localhost/devices/${bob.client.device}/wipe`, {});
    await expect(bob.client.sync()).rejects.toMatchObject({ code: 'DEVICE_WIPED' });
    expect(readdirSync(bob.profile).filter((f) => f.startsWith('profile.'))).toEqual([]);
    const audit = await auditLog();
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['device.wipe', 'device.wipe-confirmed']));

    // The members removed bob's device; what alice sends next is for carol alone, in a new epoch.
    await alice.client.sync();
    await alice.client.send({ conversation }, 'after the wipe');
    // The ciphertext as the server stores it (taken before carol's ack deletes it).
    const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    const row = db.prepare("SELECT payload FROM messages WHERE conversation = ? AND kind = 'app' ORDER BY id DESC LIMIT 1").get(conversation) as { payload: Buffer };
    db.close();
    expect(chats(await carol.client.sync()).map((m) => m.text)).toEqual(['before the wipe', 'after the wipe']);
    // The old copy holds bob's group state from before: it has no key for the new epoch.
    const old = ProfileStore.open(copy, { create: false });
    const engine = await GroupEngine.create(async () => true, nodeCiphersuite()); // test double: accepts any credential
    const state = engine.joinState({ base: old.conversationState(conversation as ConversationId), secrets: old.secretNodes(conversation as ConversationId) });
    old.close();
    await expect(engine.process(state, new Uint8Array(row.payload))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    // And the copy cannot sign in: the device is revoked.
    const revived = server.track(await SealpostClient.open(copy));
    await expect(revived.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });
  });

  it('wipe reaches a device that is online: its watch ends with DEVICE_WIPED and the profile is gone', async () => {
    await server.enroll('alice');
    const bob = await server.enroll('bob');
    const ac = new AbortController();
    const watching = bob.client.watch(() => {}, ac.signal);
    await new Promise((r) => setTimeout(r, 300));
    await server.adminRequest('POST', `/v1/admin/users/bob@localhost/devices/${bob.client.device}/wipe`, {});
    const outcome = await Promise.race([watching.then(() => 'ended', (err: { code?: string }) => err.code), new Promise((r) => setTimeout(() => r('still running'), 8_000))]);
    ac.abort();
    expect(outcome).toBe('DEVICE_WIPED');
    expect(existsSync(join(bob.profile, 'profile.db'))).toBe(false);
  });

  it('wipe of a device that never comes back still revokes it', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'hi');
    await server.adminRequest('POST', `/v1/admin/users/bob@localhost/devices/${bob.client.device}/wipe`, {});
    await alice.client.sync();
    expect(alice.client.conversations().find((c) => c.id === conversation)?.members).toEqual(['alice@localhost']);
    const lookup = await server.adminRequest<{ devices: { revokedAt: string | null; wipe: { confirmedAt: string | null } | null }[] }>('GET', '/v1/admin/users/bob@localhost/lookup');
    expect(lookup.devices[0]!.revokedAt).not.toBeNull();
    expect(lookup.devices[0]!.wipe).toMatchObject({ confirmedAt: null });
  });
});

describe('policy', () => {
  it('limits attachment size, sets activation code lifetime, and applies retention on the server and on devices', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const set = (change: Record<string, unknown>) => server.adminRequest<{ policy: Record<string, unknown> }>('PUT', '/v1/admin/policy', { change });
    await expect(set({ retentionDefaultMs: 2 * 86_400_000, retentionMaxMs: 86_400_000 })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(set({ maxDevicesPerUser: 0 })).rejects.toMatchObject({ code: 'POLICY_INVALID' });

    await set({ maxAttachmentBytes: 64 * 1024 });
    const dir = tempDir('files');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(100 * 1024));
    await expect(alice.client.send({ to: ['bob@localhost'] }, 'too big', { files: [join(dir, 'big.bin')] })).rejects.toMatchObject({ code: 'BLOB_TOO_LARGE' });

    await set({ activationCodeTtlMs: 60 * 60_000 });
    const added = await server.addUser('dora');
    const ttl = Date.parse((added as unknown as { expiresAt: string }).expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(59 * 60_000);
    expect(ttl).toBeLessThanOrEqual(60 * 60_000);

    // Retention: bob is offline while alice writes; two days later the policy says one day.
    await alice.client.send({ to: ['bob@localhost'] }, 'old news');
    expect(alice.client.messages().map((m) => m.text)).toEqual(['old news']);
    advanceClock(2 * 86_400_000);
    await set({ retentionMaxMs: 86_400_000 });
    const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
    expect((db.prepare("SELECT COUNT(*) AS n FROM messages WHERE kind = 'app'").get() as { n: number }).n).toBe(0);
    db.close();
    expect(chats(await bob.client.sync())).toEqual([]);
    // Alice's device applies the policy to its own history on its next sync.
    await alice.client.sync();
    expect(alice.client.messages()).toEqual([]);
    await alice.client.send({ to: ['bob@localhost'] }, 'new news');
    expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['new news']);
  });

  it('requires a passphrase on the local store when policy says so', async () => {
    await server.adminRequest('PUT', '/v1/admin/policy', { change: { requirePassphrase: true } });
    const { activationCode } = await server.addUser('erin');
    const profile = tempDir('erin');
    await expect(SealpostClient.enroll({ server: server.url, user: 'erin@localhost', code: activationCode, profile })).rejects.toMatchObject({
      code: 'PASSPHRASE_REQUIRED',
    });
    expect(existsSync(join(profile, 'profile.db'))).toBe(false);
    const erin = server.track(await SealpostClient.enroll({ server: server.url, user: 'erin@localhost', code: activationCode, profile }, { passphrase: 'correct horse' }));
    await erin.close();
    await expect(SealpostClient.open(profile)).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' });
    await expect(SealpostClient.open(profile, { passphrase: 'wrong' })).rejects.toMatchObject({ code: 'PASSPHRASE_WRONG' });
    const again = server.track(await SealpostClient.open(profile, { passphrase: 'correct horse' }));
    expect(await again.sync()).toEqual([]);
  });
});

describe("a device's queue", () => {
  it('an admin sees what waits for a device (sizes and senders, no content) and drops items, audited', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'one');
    await alice.client.send({ conversation }, 'two');
    await alice.client.send({ conversation }, 'three');
    type Queue = { items: number; bytes: number; oldestAt: string; first: { seq: number; kind: string; from: string; bytes: number; conversation: string }[] };
    const path = `/v1/admin/users/bob@localhost/devices/${bob.client.device}/queue`;
    const q = await server.adminRequest<Queue>('GET', path);
    expect(q.items).toBe(4); // the Welcome and three messages
    expect(q.first.map((e) => e.kind)).toEqual(['welcome', 'app', 'app', 'app']);
    expect(q.first.every((e) => e.from === 'alice@localhost' && e.conversation === conversation && e.bytes > 0)).toBe(true);
    expect(q.bytes).toBe(q.first.reduce((n, e) => n + e.bytes, 0));
    expect(JSON.stringify(q)).not.toContain('one');

    const second = q.first[2]!.seq;
    expect(await server.adminRequest('POST', `${path}/drop`, { seqs: [second] })).toMatchObject({ dropped: 1 });
    expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['one', 'three']);
    await alice.client.send({ conversation }, 'four');
    expect(await server.adminRequest('POST', `${path}/drop`, { all: true })).toMatchObject({ dropped: 1 });
    expect((await server.adminRequest<Queue>('GET', path)).items).toBe(0);
    await expect(server.adminRequest('POST', `${path}/drop`, { seqs: [1], all: true })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const actions = (await auditLog()).map((e) => e.action);
    expect(actions.filter((a) => a === 'device.queue.drop')).toHaveLength(2);
    expect(actions).toContain('device.queue');
  });
});

describe('audit log and lookup', () => {
  it('records every admin action in a hash chain that verifies, and reports a changed entry', async () => {
    await server.enroll('alice');
    await server.adminRequest('POST', '/v1/admin/users/alice@localhost/disable', {});
    await server.adminRequest('POST', '/v1/admin/users/alice@localhost/enable', {});
    await server.adminRequest('PUT', '/v1/admin/policy', { change: { maxDevicesPerUser: 3 } });
    const rows = await auditLog();
    expect(rows.map((r) => [r.actor, r.action, r.target])).toEqual([
      ['root', 'user.add', 'alice@localhost'],
      ['root', 'user.disable', 'alice@localhost'],
      ['root', 'user.enable', 'alice@localhost'],
      ['root', 'policy.set', 'maxDevicesPerUser'],
    ]);
    expect(rows[3]!.details).toEqual({ maxDevicesPerUser: '10 -> 3' });
    const verdict = verifyAuditLog(asEntries(rows));
    expect(verdict.kind).toBe('ok');

    const db = new Database(join(server.dataDir, 'sealpost.db'));
    db.prepare("UPDATE audit_log SET target = 'mallory@localhost' WHERE seq = 2").run();
    db.close();
    expect(verifyAuditLog(asEntries(await auditLog()))).toEqual({ kind: 'broken', seq: 2, reason: 'hash-mismatch' });
  });

  it('lookup exports what the server holds about a user, never content, and is itself audited', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.send({ to: ['bob@localhost'] }, 'SECRET-LOOKUP-MARKER');
    const res = await server.started.server.app.inject({ method: 'GET', url: '/v1/admin/users/bob@localhost/lookup', headers: { authorization: `Bearer ${server.adminToken}` } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(res.body).not.toContain('SECRET-LOOKUP-MARKER');
    expect(body).toMatchObject({ user: 'bob@localhost', status: 'active', conversationCount: 1 });
    expect(body.devices).toEqual([expect.objectContaining({ id: bob.client.device, revokedAt: null })]);
    expect(body.queued.items).toBeGreaterThan(0);
    expect((await auditLog()).at(-1)).toMatchObject({ action: 'user.lookup', target: 'bob@localhost', actor: 'root' });
  });

  it('named admin credentials act under their name and stop working when revoked', async () => {
    const created = await server.adminRequest<{ name: string; token: string }>('POST', '/v1/admin/tokens', { name: 'helpdesk', scopes: ['users'] });
    const api = new HttpApi(server.url);
    await api.request('POST', '/v1/admin/users', { user: 'frank' }, { admin: created.token });
    expect((await auditLog()).find((e) => e.action === 'user.add')).toMatchObject({ actor: 'helpdesk', target: 'frank@localhost' });
    await server.adminRequest('POST', '/v1/admin/tokens/helpdesk/revoke', {});
    await expect(api.request('GET', '/v1/admin/users', undefined, { admin: created.token })).rejects.toMatchObject({ code: 'ADMIN_TOKEN_INVALID' });
  });
});

function readEpoch(dataDir: string, conversation: string): number {
  const db = new Database(join(dataDir, 'sealpost.db'), { readonly: true });
  try {
    return (db.prepare('SELECT epoch FROM conversations WHERE id = ?').get(conversation) as { epoch: number }).epoch;
  } finally {
    db.close();
  }
}

async function tokenOf(client: SealpostClient): Promise<string> {
  return (client as unknown as { sessionToken(): Promise<string> }).sessionToken();
}
