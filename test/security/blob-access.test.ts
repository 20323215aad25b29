// Attack: a device that was never sent a file tries to fetch it by id, or to attach someone else's file to its own
// message to gain access. Both are refused: only devices a message naming the blob reached may fetch it.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { ChatMessage } from '@sealpost/client';
import { encodeFrame, newMessageId } from '@sealpost/protocol';
import { sessionTokenOf as tokenOf, startTestServer, tempDir, type TestServer } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});


it('refuses downloads and re-sharing by devices without a grant', async () => {
  const dir = tempDir('grant');
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const eve = await server.enroll('eve');
  writeFileSync(join(dir, 'secret.bin'), randomBytes(5000));
  await alice.send({ to: ['bob@localhost'] }, 'for bob', { files: [join(dir, 'secret.bin')] });
  const [msg] = (await bob.sync()) as ChatMessage[];
  const blob = msg!.attachments![0]!.id;

  const { conversation } = await eve.client.send({ to: ['bob@localhost'] }, 'hi bob');
  const token = tokenOf(eve.profile);
  const res = await fetch(`${server.url}/v1/blobs/${blob}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(404);
  expect((await res.json()).error.code).toBe('BLOB_NOT_FOUND');
  const unauth = await fetch(`${server.url}/v1/blobs/${blob}`);
  expect((await unauth.json()).error.code).toBe('UNAUTHENTICATED');

  // Naming the blob in her own message does not give Eve (or anyone) access.
  const sock = await RawSocket.open(server.url);
  sock.send(encodeFrame({ t: 'auth', token }));
  sock.send(encodeFrame({ t: 'send', r: 1, c: conversation, e: 1, id: newMessageId(), p: new Uint8Array(10), b: [blob] }));
  const frames = await sock.waitFrames(2);
  expect(frames[1]).toMatchObject({ t: 'err', r: 1, code: 'BLOB_NOT_FOUND' });
  sock.close();
});
