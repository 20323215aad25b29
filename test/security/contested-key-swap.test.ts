// Attack: the operator fakes an admin reset of bob in the key-transparency log (a retirement, as a real reset
// publishes) and then publishes its own account key and device for him, so that alice's next mail is encrypted to
// the operator. With the contest period, alice's client uses the new key for nothing until it has stood in the log
// unobjected: her mail waits in the outbox, bob's device finds the change while monitoring and objects, and the
// held mail is discarded with a note instead of ever being encrypted to the operator's device.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SealpostClient } from '@sealpost/client';
import { startTestServer, type TestServer } from '../helpers.js';
import { fakeReset, nextEpoch, operatorDb, writeOperatorList } from '../operator.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
  // Short for the test (a day by default); set before anyone enrolls, as a device never shortens it at once.
  await server.adminRequest('PUT', '/v1/admin/policy', { change: { keyChangeContestMs: 4000 } });
});
afterEach(async () => {
  await server.close();
});

const queuedFor = (device: string) => {
  const d = operatorDb(server.dataDir);
  const n = d.prepare('SELECT COUNT(*) FROM queue WHERE device = ?').pluck().get(device) as number;
  d.close();
  return n;
};

it("alice's mail to a swapped key waits, bob objects, and the mail is discarded, never sent to the operator", async () => {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  await alice.client.send({ to: ['bob@localhost'] }, 'hello bob'); // alice knows bob's key
  await bob.client.sync();

  fakeReset(server.dataDir, 'bob@localhost');
  await nextEpoch();
  const operatorDevice = await writeOperatorList(server.dataDir, 'bob@localhost', true);
  await nextEpoch();

  const mail = await alice.client.sendMail({ to: ['bob@localhost'], subject: 'Plan', text: 'for bob only' });
  expect(mail.held).toMatchObject({ users: ['bob@localhost'], reason: expect.stringMatching(/not used until .* unless you compare|or now, if you compare/) });
  expect(queuedFor(operatorDevice)).toBe(0);

  // Bob's device, monitoring, alarms and objects with the key the change would replace.
  const self = await bob.client.monitorSelf();
  expect(self.ok).toBe(false);
  expect(bob.warnings.join('\n')).toMatch(/KEY TRANSPARENCY ALARM/);
  expect(bob.warnings.join('\n')).toMatch(/objected, with your account key, to version \d+/);

  // Alice's held mail is discarded with a note; her client alarms and refuses the key, also after the period.
  expect(await alice.client.releaseHeld()).toEqual({ sent: 0, discarded: 1, held: 0 });
  const [discarded] = alice.client.takeDiscardedMessages();
  expect(discarded).toMatchObject({ id: mail.id, kind: 'mail', to: ['bob@localhost'], reason: expect.stringMatching(/own devices object to the change/) });
  expect(alice.warnings.join('\n')).toMatch(/KEY TRANSPARENCY ALARM: bob@localhost's own devices object/);
  await new Promise((r) => setTimeout(r, 4500));
  await expect(alice.client.send({ to: ['bob@localhost'] }, 'still there?')).rejects.toMatchObject({ code: 'ACCOUNT_KEY_CHANGED' });
  const shown = await alice.client.verifyUser('bob@localhost');
  expect(shown.keyChange).toMatchObject({ status: 'refused', reason: expect.stringMatching(/own devices object/) });
  expect(queuedFor(operatorDevice)).toBe(0);
});

it("carol's fresh client, which knew bob's key, refuses the objected key too", async () => {
  const bob = await server.enroll('bob');
  const carol = await server.enroll('carol');
  await carol.client.send({ to: ['bob@localhost'] }, 'hello bob');
  await bob.client.sync();
  fakeReset(server.dataDir, 'bob@localhost');
  await nextEpoch();
  await writeOperatorList(server.dataDir, 'bob@localhost', true);
  await nextEpoch();
  await bob.client.monitorSelf();
  await carol.client.close();
  const carolAgain = server.track(await SealpostClient.open(carol.profile, { warn: () => {} }));
  await expect(carolAgain.sendMail({ to: ['bob@localhost'], subject: 'Plan', text: 'for bob only' })).rejects.toMatchObject({ code: 'ACCOUNT_KEY_CHANGED' });
});
