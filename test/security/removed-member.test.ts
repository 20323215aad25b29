// Attack: a removed member keeps its old group state (or processes its removal) and tries to read what is sent
// afterwards, using ciphertext taken from the server. Both fail: the new epoch's keys never reach it.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ProfileStore } from '@sealpost/client';
import { GroupEngine, type ConversationId } from '@sealpost/protocol';
import { chats, startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

/** The attacker's copy of a device's saved group state (its parts, as the profile stores them). */
function groupState(profile: string, conversation: ConversationId): { base: Uint8Array; secrets: Uint8Array[] } {
  const store = ProfileStore.open(profile, { create: false });
  try {
    return { base: store.conversationState(conversation), secrets: store.secretNodes(conversation) };
  } finally {
    store.close();
  }
}

it('a removed member cannot decrypt messages sent after its removal', async () => {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  const carol = await server.enroll('carol');
  const { conversation } = await alice.client.send({ to: ['bob@localhost', 'carol@localhost'] }, 'before');
  await bob.client.sync();
  expect(chats(await carol.client.sync()).map((m) => m.text)).toEqual(['before']);
  const carolBefore = groupState(carol.profile, conversation); // a copy kept by the attacker

  await alice.client.removeMember(conversation, 'carol@localhost');
  await alice.client.send({ conversation }, 'after removal');
  const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
  const ciphertext = (db.prepare("SELECT payload FROM messages WHERE kind = 'app' ORDER BY id DESC").get() as { payload: Buffer }).payload;
  db.close();

  await carol.client.sync(); // processes its own removal
  const carolAfter = groupState(carol.profile, conversation);

  // Test double: processing an application message never consults credentials.
  const engine = await GroupEngine.create(async () => true);
  for (const state of [carolBefore, carolAfter]) {
    await expect(engine.process(engine.joinState(state), new Uint8Array(ciphertext))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  }
  expect(carol.client.messages(conversation).map((m) => m.text)).toEqual(['before']);
  expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['after removal']);
});
