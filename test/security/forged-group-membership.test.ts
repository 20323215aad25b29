// Attack: a malicious operator (without the organisation key) queues a group-membership statement of its own
// making, naming alice and a user of its choosing, to make alice's device create a conversation with them — or add
// them to a conversation that follows a real group. Devices check the organisation signature first: nobody is added,
// and the item is recorded as unreadable.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ORGANISATION_DEVICE,
  defaultCiphersuite,
  encodeSignedNotice,
  groupConversationId,
  newMessageId,
  parseUserId,
  signGroupMembership,
} from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';

let server: TestServer;
let alice: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  await server.enroll('mallory');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it('a group membership not signed by the organisation key adds nobody', async () => {
  const cs = await defaultCiphersuite();
  const operatorKey = await cs.signature.keygen();
  const members = [parseUserId('alice@localhost'), parseUserId('mallory@localhost')];
  const forged = await signGroupMembership(cs.signature, operatorKey.signKey, { group: 'g_operator-made', name: 'Board', members, version: 1, issuedAt: Date.now() });
  const ctx = server.started.server.ctx;
  const conversation = groupConversationId('g_operator-made');
  ctx.bus.publish(
    await ctx.store.appendNotice({
      conversation,
      kind: 'group',
      id: newMessageId(),
      payload: encodeSignedNotice(forged),
      users: members,
      sender: { device: ORGANISATION_DEVICE, user: parseUserId('organisation@localhost') },
      now: Date.now(),
    }),
  );
  await alice.client.sync();
  expect(alice.client.conversations().find((c) => c.id === conversation)).toBeUndefined();
  expect(alice.client.unreadable().map((u) => [u.kind, u.reason])).toEqual([['group', expect.stringMatching(/not signed by the organisation key/)]]);
});
