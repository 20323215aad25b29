// A downgrade through a Welcome: bob left alice's post-quantum conversation; a member's device that does not follow
// the rules (alice's, driven past the client) makes a classic group under the same conversation id and sends bob a
// classic Welcome into it, so that what is said there would rest on X25519 alone. bob's device knows the
// conversation as pq-hybrid and refuses the Welcome (SUITE_UNSUPPORTED): it does not rejoin in the weaker suite.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SealpostClient } from '@sealpost/client';
import { fromBase64Url, newMessageId, type DeviceId, type GroupEngine, type UserId } from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';

let server: TestServer;
let alice: TestClient;
let bob: TestClient;

/** What a modified client reaches: its engine, keys, API and socket. */
type Internals = {
  core: {
    engine: GroupEngine;
    deviceKeys: { publicKey: Uint8Array; privateKey: Uint8Array };
    api: { request<T>(method: string, path: string, body?: unknown): Promise<T> };
  };
  session: { socket(): Promise<{ request(frame: Record<string, unknown>): Promise<unknown> }> };
};
const inside = (c: SealpostClient) => c as unknown as Internals;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  bob = await server.enroll('bob');
  await server.enroll('carol');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it('a classic Welcome into a conversation bob knows as pq-hybrid is refused', async () => {
  const conv = (await alice.client.send({ to: ['bob', 'carol'] }, 'post-quantum')).conversation;
  await bob.client.sync();
  await alice.client.removeMember(conv, 'bob');
  await bob.client.sync();
  expect(bob.client.conversations().find((c) => c.id === conv)).toMatchObject({ status: 'removed', suite: 'pq-hybrid' });

  // The rogue device: a classic group under the same id, adding bob's classic KeyPackage, sent as the next commit.
  const a = inside(alice.client);
  const { epoch } = await a.core.api.request<{ epoch: number }>('GET', `/v1/conversations/${conv}`);
  let state = await a.core.engine.createGroup(conv, { user: alice.client.user, device: alice.client.device }, a.core.deviceKeys, 'classic');
  const claimed = await a.core.api.request<{ keyPackages: { device: DeviceId; keyPackage: string }[] }>('POST', '/v1/keypackages/claim', {
    users: ['bob@localhost' as UserId],
    suite: 'classic',
  });
  const made = await a.core.engine.commit(state, { add: [fromBase64Url(claimed.keyPackages[0]!.keyPackage)!] });
  state = made.state;
  const sock = await a.session.socket();
  await sock.request({ t: 'commit', c: conv, e: epoch, id: newMessageId(), p: made.commit, w: made.welcome!, add: [bob.client.device], remove: [] });

  await bob.client.sync();
  expect(bob.client.conversations().find((c) => c.id === conv)).toMatchObject({ status: 'removed', suite: 'pq-hybrid' });
  expect(bob.client.unreadable().map((u) => `${u.kind}: ${u.reason}`).join('\n')).toMatch(/welcome: a Welcome into conversation .* in the classic suite, which this device knows as pq-hybrid: refused/);
  expect(await bob.client.sync()).toEqual([]);
});
