// Key transparency, end to end: every device list a client trusts is the one in the log; two users compare safety
// numbers; adding a device keeps the number, an account reset changes it and warns; a user's own devices find only
// their own changes in the log; an independent auditor replays the log and co-signs the same head clients verified.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KtAuditor, SealpostClient } from '@sealpost/client';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

describe('safety numbers', () => {
  it('are the same on both sides, survive a new device, change on an account reset', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.send({ to: ['bob@localhost'] }, 'hi');
    await bob.client.sync();

    const a = await alice.client.verifyUser('bob@localhost');
    const b = await bob.client.verifyUser('alice@localhost');
    expect(a.safetyNumber).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(a.safetyNumber).toBe(b.safetyNumber);
    expect(a.kt.verified).toBe(true);
    expect(a.confirmed).toBe(false);
    await expect(alice.client.verifyUser('bob@localhost', { confirm: '1'.repeat(60) })).rejects.toMatchObject({ code: 'SAFETY_NUMBER_MISMATCH' });
    expect((await alice.client.verifyUser('bob@localhost', { confirm: b.safetyNumber })).confirmed).toBe(true);
    // Scanning bob's code checks the number and that both see one log.
    expect((await alice.client.verifyUser('bob@localhost', { peer: b.qr })).confirmed).toBe(true);
    // A code whose head forks from the log alice is shown is caught.
    const forked = b.qr.replace(/head=(\d+)%3A([A-Za-z0-9_-])/, (_m, size: string, c: string) => `head=${size}%3A${c === 'A' ? 'B' : 'A'}`);
    expect(forked).not.toBe(b.qr);
    await expect(alice.client.verifyUser('bob@localhost', { peer: forked })).rejects.toMatchObject({ code: 'KT_VERIFICATION_FAILED' });

    // Bob adds a phone: his account key is unchanged, so is the number.
    await server.link(bob);
    const again = await alice.client.verifyUser('bob@localhost');
    expect(again.safetyNumber).toBe(a.safetyNumber);
    expect(again.changedSinceConfirmed).toBe(false);
    expect(again.devices).toBe(2);

    // Bob loses everything; the admin resets him; his new device has a new account key.
    const reset = await server.adminRequest<{ activationCode: string }>('POST', '/v1/admin/users/bob@localhost/reset', {});
    server.track(await SealpostClient.enroll({ server: server.url, user: 'bob@localhost', code: reset.activationCode, profile: tempDir('bob-new') }));
    const after = await alice.client.verifyUser('bob@localhost');
    expect(after.safetyNumber).not.toBe(a.safetyNumber);
    expect(after.changedSinceConfirmed).toBe(true);
    // Shown with the number the new key gives, and not used until its contest period ends.
    expect(after.keyChange).toMatchObject({ status: 'pending', retiredAt: expect.any(Number) });
  });

  it('a genuine admin reset completes after the contest period: messages held meanwhile go out by themselves', async () => {
    await server.adminRequest('PUT', '/v1/admin/policy', { change: { keyChangeContestMs: 3000 } });
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.send({ to: ['bob@localhost'] }, 'hi');
    await bob.client.sync();
    const reset = await server.adminRequest<{ activationCode: string }>('POST', '/v1/admin/users/bob@localhost/reset', {});
    const bob2 = server.track(await SealpostClient.enroll({ server: server.url, user: 'bob@localhost', code: reset.activationCode, profile: tempDir('bob-new') }));

    const first = await alice.client.sendMail({ to: ['bob@localhost'], subject: 'Welcome back', text: 'held first' });
    const second = await alice.client.send({ to: ['bob@localhost'] }, 'held second');
    expect([first.held?.users, second.held?.users]).toEqual([['bob@localhost'], ['bob@localhost']]);
    expect(alice.client.heldMessages().map((h) => h.id)).toEqual([first.id, second.id]);
    expect(await bob2.sync()).toEqual([]);

    await new Promise((r) => setTimeout(r, 3200));
    await alice.client.sync(); // any later command releases what waits
    expect(alice.client.heldMessages()).toEqual([]);
    expect(alice.warnings.join('\n')).toMatch(/safety number with bob@localhost has changed.*No device of bob@localhost's objected within the contest period/);
    const received = await bob2.sync();
    expect(chats(received).map((m) => m.text)).toEqual(['held second']);
    expect(bob2.mailList().map((m) => [m.id, m.subject])).toEqual([[first.id, 'Welcome back']]);
    expect(second.conversation).toBe(chats(received)[0]!.conversation);
  });
});

describe('the log', () => {
  it("holds exactly what each user's devices made; the auditor replays it and co-signs the head clients verified", async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.send({ to: ['bob@localhost'] }, 'hi');
    await bob.client.sync();
    await server.link(alice);

    const self = await alice.client.monitorSelf();
    expect(self).toMatchObject({ ok: true, problems: [], alarm: null });
    expect(self.kt.version).toBe(2); // enrolled, then one device linked

    const auditor = new KtAuditor(server.url, tempDir('auditor'));
    const outcome = await auditor.replay();
    expect(outcome.kind).toBe('ok');
    // The head the client verified last is one the auditor rebuilt and signed.
    const verified = (await bob.client.verifyUser('alice@localhost')).kt.head;
    await auditor.replay();
    expect(auditor.head(verified.size)?.root).toBe(verified.root);
  });
});

describe('auditors required by policy', () => {
  it('a client trusts a new head only once the required auditors co-signed it', async () => {
    const alice = await server.enroll('alice', { ktAuditWaitMs: 3_000 });
    const bob = await server.enroll('bob');
    const auditor = new KtAuditor(server.url, tempDir('auditor-policy'));
    await auditor.replay();
    const served = await auditor.serve('127.0.0.1', 0);
    let auditing = true;
    const loop = (async () => {
      while (auditing) {
        await auditor.replay().catch(() => {});
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await server.adminRequest('PUT', '/v1/admin/policy', { change: { ktAuditors: [{ url: served.url, key: auditor.publicKey }], ktMinAuditorSignatures: 1 } });
      await alice.client.sync(); // learns the policy
      await server.link(bob); // a new head, co-signed within moments (the new device checks too)
      expect((await alice.client.verifyUser('bob@localhost')).kt.verified).toBe(true);

      // The auditor stops; the next new head (carol joins) cannot get its co-signature, so alice trusts nothing new.
      auditing = false;
      await loop;
      await server.enroll('carol');
      await expect(alice.client.verifyUser('carol@localhost')).rejects.toMatchObject({ code: 'KT_VERIFICATION_FAILED' });
    } finally {
      auditing = false;
      await served.close();
    }
  });
});

