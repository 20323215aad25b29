// Post-quantum conversations end to end (docs/post-quantum.md): under the default policy a group of three is
// pq-hybrid (X-Wing) on every member's device, survives a removal and a re-add, and says so in `conversations --json`
// and `verify`; a policy change mid-life leaves old conversations in their suite and makes new ones in the new one,
// and the admin sees the counts; a device linked under pq-hybrid gets its bundle sealed with X-Wing and joins the
// hybrid conversations; a device that has published no pq-hybrid KeyPackage (an older Sealpost) is refused with
// SUITE_UNSUPPORTED, never added in a weaker suite.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeDeviceList, type ConversationId } from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { operatorDb } from '../operator.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;
let alice: TestClient;
let bob: TestClient;
let carol: TestClient;

function sealpost(args: string[]): Promise<{ code: number; stderr: string; lines: Record<string, unknown>[] }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args, '--json'], { timeout: 60_000, env: { ...process.env, SEALPOST_SERVER: server.url, SEALPOST_ADMIN_TOKEN: server.adminToken } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stderr, lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) });
    });
  });
}
const texts = (c: TestClient, conv: string) => c.client.messages(conv as ConversationId).map((m) => m.text);

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  bob = await server.enroll('bob');
  carol = await server.enroll('carol');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it('a pq-hybrid group of three: every device agrees on the suite; a removal and a re-add keep it', async () => {
  const group = (await alice.client.send({ to: ['bob', 'carol'] }, 'quantum-safe hello')).conversation;
  for (const c of [bob, carol]) await c.client.sync();
  for (const c of [alice, bob, carol]) expect(c.client.conversations().find((x) => x.id === group)!.suite).toBe('pq-hybrid');
  expect(texts(carol, group)).toEqual(['quantum-safe hello']);

  await alice.client.removeMember(group, 'carol');
  await alice.client.send({ conversation: group }, 'carol is out');
  await carol.client.sync();
  expect(carol.client.conversations().find((x) => x.id === group)!.status).toBe('removed');
  await alice.client.addMember(group, 'carol');
  await alice.client.send({ conversation: group }, 'carol is back');
  for (const c of [bob, carol]) await c.client.sync();
  expect(texts(bob, group)).toEqual(['quantum-safe hello', 'carol is out', 'carol is back']);
  expect(texts(carol, group)).toEqual(['quantum-safe hello', 'carol is back']);
  expect(carol.client.conversations().find((x) => x.id === group)).toMatchObject({ status: 'active', suite: 'pq-hybrid' });

  // The CLI says it: conversations --json and verify.
  const listed = await sealpost(['conversations', '--profile', bob.profile]);
  expect(listed.lines.find((l) => l.id === group)).toMatchObject({ suite: 'pq-hybrid' });
  const verified = await sealpost(['verify', 'alice', '--profile', bob.profile]);
  expect(verified.lines[0]!.conversations).toEqual([{ id: group, suite: 'pq-hybrid' }]);
});

it('a policy change mid-life: old conversations keep their suite, new ones take the new one; the admin sees the counts', async () => {
  const before = (await alice.client.send({ to: ['bob'] }, 'hybrid, from before the change')).conversation;
  expect((await sealpost(['admin', 'policy', 'set', 'conversation-suite', 'classic'])).code).toBe(0);
  await alice.client.sync(); // the device applies the policy it is shown
  const dave = await server.enroll('dave');
  const classic = (await alice.client.send({ to: ['dave'] }, 'classic, after the change')).conversation;
  await dave.client.sync();
  expect(dave.client.conversations().find((x) => x.id === classic)!.suite).toBe('classic');
  expect(texts(dave, classic)).toEqual(['classic, after the change']);
  // The conversation from before is still post-quantum, and still works.
  await alice.client.send({ conversation: before as ConversationId }, 'still hybrid');
  await bob.client.sync();
  expect(bob.client.conversations().find((x) => x.id === before)!.suite).toBe('pq-hybrid');
  expect(texts(bob, before)).toContain('still hybrid');
  const counts = await sealpost(['admin', 'conversations']);
  expect(counts.lines[0]).toMatchObject({ bySuite: { classic: 1, 'pq-hybrid': 2 }, total: 3 });
  expect((await sealpost(['admin', 'policy', 'set', 'conversation-suite', 'pq-hybrid'])).code).toBe(0);
  await alice.client.sync();
  const after = (await alice.client.send({ to: ['carol', 'dave'] }, 'hybrid again')).conversation;
  expect(alice.client.conversations().find((x) => x.id === after)!.suite).toBe('pq-hybrid');
  expect((await sealpost(['admin', 'policy', 'set', 'conversation-suite', 'quantum'])).stderr).toContain('INVALID_INPUT');
});

it('a device linked under pq-hybrid gets its bundle sealed with X-Wing and joins the hybrid conversations', async () => {
  const linked = await server.link(bob);
  const d = operatorDb(server.dataDir);
  const keys = d.prepare('SELECT length(hpke_key) AS n FROM device_links WHERE device = ?').all(linked.client.device) as { n: number }[];
  d.close();
  expect(keys.map((k) => k.n)).toEqual([1216]); // an X-Wing public key, not a 32-byte X25519 one
  await linked.client.awaitLinkedConversations();
  await alice.client.send({ to: ['bob'] }, 'to both of bob’s devices');
  await linked.client.sync();
  expect(linked.client.messages().map((m) => m.text)).toContain('to both of bob’s devices');
  expect(linked.client.conversations().filter((c) => (c.members as string[]).includes('alice@localhost')).every((c) => c.suite === 'pq-hybrid')).toBe(true);
});

it("an account's mail intake key is X-Wing under pq-hybrid: outside mail is sealed to it post-quantum", async () => {
  // The account-signed device list carries it (and the key-transparency log commits to that list).
  const d = operatorDb(server.dataDir);
  const row = d.prepare('SELECT body FROM device_lists WHERE user = ?').get('carol@localhost') as { body: Uint8Array };
  d.close();
  const list = decodeDeviceList(new Uint8Array(row.body));
  expect(list.mail?.intakeKey.length).toBe(1216); // X-Wing; an X25519 key is 32 bytes
});

it('a device that published no pq-hybrid KeyPackage is refused with SUITE_UNSUPPORTED, never downgraded', async () => {
  const erin = await server.enroll('erin');
  // An older Sealpost on erin's device: it never published a pq-hybrid KeyPackage.
  const d = operatorDb(server.dataDir);
  d.prepare("DELETE FROM key_packages WHERE device = ? AND suite = 'pq-hybrid'").run(erin.client.device);
  d.close();
  await expect(alice.client.send({ to: ['erin'] }, 'not to be sent in a weaker suite')).rejects.toMatchObject({
    code: 'SUITE_UNSUPPORTED',
    message: expect.stringMatching(/erin@localhost has published no pq-hybrid KeyPackage/),
  });
  expect(alice.client.conversations().some((c) => (c.members as string[]).includes('erin@localhost'))).toBe(false);
});
