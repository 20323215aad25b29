// A genuine legal hold on one user used to record others: bob is held, and a member's device that does not follow
// the rules (here alice's, driven past the client's own checks) commits the organisation's archive into alice's chat
// with carol — a conversation bob is not in. The server cannot tell; every other client can: carol's device refuses
// the commit and raises the alarm, and the archive's own device refuses the Welcome. Nothing sent there reaches it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SealpostClient } from '@sealpost/client';
import { archiveAccountOf, type ConversationId, type UserId } from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';

let server: TestServer;
let alice: TestClient;
let carol: TestClient;
let archive: TestClient;

/** What a modified client does: commit straight through the membership step, past the hold checks of addMember. */
type Internals = { membership: { commitChange(c: ConversationId, change: { addUsers: UserId[] }): Promise<void> } };
const rogue = (c: SealpostClient) => (c as unknown as Internals).membership;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  await server.enroll('bob');
  carol = await server.enroll('carol');
  archive = await server.enrollArchive();
  await server.adminRequest('POST', '/v1/admin/holds', { user: 'bob', reason: 'case 17' });
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it("the hold on bob does not let the archive into alice's chat with carol: refused by carol and by the archive, alarm raised", async () => {
  const ac = (await alice.client.send({ to: ['carol'] }, 'just us')).conversation;
  await carol.client.sync();
  // The honest client refuses to add the archive by hand.
  await expect(alice.client.addMember(ac, 'sealpost-archive')).rejects.toMatchObject({ code: 'INVALID_INPUT' });

  await rogue(alice.client).commitChange(ac, { addUsers: [archiveAccountOf('localhost')] });
  await alice.client.send({ conversation: ac }, 'said after the archive was let in');

  await carol.client.sync();
  const conv = carol.client.conversations().find((c) => c.id === ac)!;
  expect(conv.members).not.toContain('sealpost-archive@localhost');
  expect(conv.archived).toBeUndefined();
  expect(carol.client.unreadable().map((u) => u.reason).join('\n')).toMatch(/archive was added to conversation .* no published legal hold names any of its members/);
  expect((await carol.client.monitorSelf()).alarm?.problems.join('\n')).toMatch(/archive was added to conversation/);
  expect(carol.warnings.join('\n')).toMatch(/KEY TRANSPARENCY ALARM: the organisation's archive was added/);

  // The archive itself stays out of a conversation no hold covers.
  await archive.client.sync();
  expect(archive.client.conversations().map((c) => c.id)).not.toContain(ac);
  expect(archive.client.messages().map((m) => m.text)).not.toContain('said after the archive was let in');
});
