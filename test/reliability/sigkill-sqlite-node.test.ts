// SIGKILL of a single SQLite node during a burst of 10,000 messages, then restart: every message the server had
// acknowledged reaches the recipient exactly once, in order. The burst uses raw frames (the server never reads
// payloads), so the test measures the server's durability, not the sender's encryption speed.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { HttpApi, SealpostClient } from '@sealpost/client';
import { encodeFrame, type ConversationId, type QueueItem } from '@sealpost/protocol';
import { sessionTokenOf as tokenOf, tempDir } from '../helpers.js';
import { exited, startNode } from './nodes.js';
import { RawSocket } from '../raw-socket.js';

const dir = tempDir('sigkill');
const BURST = 10_000;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it(`keeps every acknowledged message through a SIGKILL during a burst of ${BURST}`, async () => {
  const dataDir = join(dir, 'data');
  let node = await startNode(['--data', dataDir]);
  const admin = new HttpApi(node.url);
  const enroll = async (name: string) => {
    const r = await admin.request<{ user: string; activationCode: string }>('POST', '/v1/admin/users', { user: name }, { admin: node.token! });
    const profile = join(dir, name);
    const client = await SealpostClient.enroll({ server: node.url, user: r.user, code: r.activationCode, profile });
    return { client, profile };
  };
  const alice = await enroll('alice');
  const bob = await enroll('bob');
  const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'setup');
  await bob.client.sync();
  await alice.client.close();
  await bob.client.close();

  // The burst: pipelined send frames, each acknowledged by the server once it is durably queued for Bob.
  const sock = await RawSocket.open(node.url);
  sock.send(encodeFrame({ t: 'auth', token: tokenOf(alice.profile) }));
  await sock.waitFrames(1);
  const acked = new Set<number>();
  const ids = Array.from({ length: BURST }, (_, i) => `burst${String(i).padStart(6, '0')}`);
  let killed = false;
  const killAt = BURST / 3;
  sock.ws.on('message', () => {
    const last = sock.frames.at(-1);
    if (last?.t === 'ok') acked.add(last.r);
    if (!killed && acked.size >= killAt) {
      killed = true;
      node.child.kill('SIGKILL');
    }
  });
  for (let i = 0; i < BURST && sock.ws.readyState === sock.ws.OPEN; i++) {
    sock.send(encodeFrame({ t: 'send', r: i, c: conversation as ConversationId, e: 1, id: ids[i] as never, p: new Uint8Array(64).fill(i & 0xff) }));
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  await sock.waitClosed();
  await exited(node.child);
  expect(killed).toBe(true);
  expect(acked.size).toBeGreaterThanOrEqual(killAt);

  // Restart on the same address; Bob fetches his whole queue.
  node = await startNode(['--data', dataDir, '--listen', new URL(node.url).host]);
  try {
    const bobSock = await RawSocket.open(node.url);
    bobSock.send(encodeFrame({ t: 'auth', token: tokenOf(bob.profile) }));
    await bobSock.waitFrames(1);
    const items: QueueItem[] = [];
    for (let after = 0, r = 1; r < 1000; r++) {
      const before = bobSock.frames.length;
      bobSock.send(encodeFrame({ t: 'fetch', r, after, limit: 200 }));
      const frames = await bobSock.waitFrames(before + 1);
      const batch = frames[before];
      if (batch?.t !== 'batch') throw new Error(`unexpected ${JSON.stringify(batch)}`);
      items.push(...batch.items);
      if (!batch.more) break;
      after = batch.items.at(-1)!.seq;
    }
    bobSock.close();
    const got = items.filter((i) => i.c === conversation && i.k === 'app').map((i) => i.id as string);
    // Exactly once, in order, and every acknowledged one is there.
    expect(new Set(got).size).toBe(got.length);
    expect([...got].sort()).toEqual(got);
    const missing = [...acked].filter((r) => !got.includes(ids[r]!));
    expect(missing).toEqual([]);
    console.log(`burst: ${acked.size} acknowledged before SIGKILL, ${got.length} stored and delivered after restart`);
  } finally {
    node.child.kill('SIGTERM');
    await exited(node.child);
  }
}, 120_000);
