// Attack: the operator swaps bob's key behind a faked reset and, when bob's device objects, drops the objection
// from the server's database so that contacts never see it. Bob's device sends the objection to the auditors too:
// contacts read it there and refuse the key, and the auditor refuses to co-sign any head that adopts the objected
// change, so with kt-min-auditors set no client accepts the log from then on.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { KtAuditor } from '@sealpost/client';
import { defaultCiphersuite, parseUserId, signObjection, toBase64Url } from '@sealpost/protocol';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { fakeReset, nextEpoch, operatorDb, writeOperatorList } from '../operator.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('an objection the server drops still reaches contacts through the auditor, which refuses to co-sign the change', async () => {
  const auditor = new KtAuditor(server.url, tempDir('auditor'));
  await auditor.replay();
  const served = await auditor.serve('127.0.0.1', 0);
  try {
    await server.adminRequest('PUT', '/v1/admin/policy', {
      change: { ktAuditors: [{ url: served.url, key: auditor.publicKey }], ktMinAuditorSignatures: 1, keyChangeContestMs: 60_000 },
    });
    const replay = async () => expect((await auditor.replay()).kind).toBe('ok');
    const alice = await server.enroll('alice', { ktAuditWaitMs: 3000 });
    const bob = await server.enroll('bob', { ktAuditWaitMs: 3000 });
    await nextEpoch();
    await replay();
    await alice.client.send({ to: ['bob@localhost'] }, 'hello bob');
    await replay();
    await bob.client.sync();

    fakeReset(server.dataDir, 'bob@localhost');
    await nextEpoch();
    await writeOperatorList(server.dataDir, 'bob@localhost', true);
    await nextEpoch();
    await replay(); // no objection yet: the auditor co-signs what it verified

    // Bob's device objects; the server and the auditor both take it. The operator then deletes it from the database.
    await bob.client.monitorSelf();
    expect(bob.warnings.join('\n')).toMatch(/objected, with your account key, to version \d+ of your account in the key-transparency log \(taken by the server and 1 auditor\(s\)\)/);
    const d = operatorDb(server.dataDir);
    d.prepare("DELETE FROM meta WHERE key = 'kt_objections:bob@localhost'").run();
    d.close();
    expect(((await (await fetch(`${server.url}/v1/kt/objections/bob%40localhost`)).json()) as { objections: unknown[] }).objections).toEqual([]);

    // Alice reads the objection from the auditor and refuses the key.
    const sent = await alice.client.send({ to: ['bob@localhost'] }, 'for bob only').then(
      (r) => r,
      (e: Error & { code?: string }) => e,
    );
    expect(sent).toMatchObject({ code: 'ACCOUNT_KEY_CHANGED', message: expect.stringMatching(/own devices object/) });

    // The next head (anything changes: dave joins) adopts nothing new, but the log holds the objected key: refused.
    await server.enroll('dave');
    await nextEpoch();
    const outcome = await auditor.replay();
    expect(outcome).toMatchObject({ kind: 'ok', refused: { label: 'bob@localhost', reason: expect.stringMatching(/objects to every version/) } });
    const head = await (await fetch(`${served.url}/heads/${outcome.kind === 'ok' ? outcome.refused!.size : 0}`)).json();
    expect(head).toMatchObject({ error: { code: 'KT_VERIFICATION_FAILED', message: expect.stringMatching(/refuses to co-sign/) } });
    // With kt-min-auditors 1, alice's client accepts no such head.
    await expect(alice.client.verifyUser('dave@localhost')).rejects.toMatchObject({ code: 'KT_VERIFICATION_FAILED', message: expect.stringMatching(/refused by/) });

    // An objection in someone else's name (not the label's key before the version it names) is not taken.
    const post = (json: unknown) => fetch(`${served.url}/objections`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
    expect((await post({ body: 'AAAA', signature: 'AAAA' })).status).toBe(400);
    const cs = await defaultCiphersuite();
    const stranger = await cs.signature.keygen();
    const signed = await signObjection(cs.signature, stranger.signKey, { label: parseUserId('alice@localhost'), fromVersion: 2, accountKey: stranger.publicKey, issuedAt: Date.now() });
    const refused = await post({ body: toBase64Url(signed.body), signature: toBase64Url(signed.signature) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { message: expect.stringMatching(/is not the key that signs it/) } });
  } finally {
    await served.close();
  }
});
