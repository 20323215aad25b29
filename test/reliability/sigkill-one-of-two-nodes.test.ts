// Two server processes on one PostgreSQL and one NATS. The sender's node is killed with SIGKILL mid-burst; the
// sender reconnects to the other node and resends what it had not seen acknowledged. Every acknowledged message
// reaches the recipient (connected to the surviving node) exactly once, in order. Needs SEALPOST_TEST_POSTGRES_URL
// and SEALPOST_TEST_NATS_URL; skipped otherwise.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '@sealpost/protocol';
import { aliceAndBob, authed, exited, receivedAppIds, startNode, suiteScratch } from './nodes.js';
import type { RawSocket } from '../raw-socket.js';

const pgUrl = process.env.SEALPOST_TEST_POSTGRES_URL;
const natsUrl = process.env.SEALPOST_TEST_NATS_URL;
const BURST = 3000;

describe.skipIf(!pgUrl || !natsUrl)('SIGKILL of one of two nodes', () => {
  const { dir, schema } = suiteScratch(pgUrl, 'rel');

  it('delivers every acknowledged message exactly once, in order, after the sender moves to the other node', async () => {
    const db = new URL(pgUrl!);
    db.searchParams.set('schema', schema);
    const common = ['--data', join(dir, 'data'), '--db', db.toString(), '--bus', natsUrl!];
    const a = await startNode(common);
    const b = await startNode(common);
    try {
      const { conversation, aliceToken, bobToken } = await aliceAndBob(dir, a, b);

      // Bob stays connected to node B and collects pushes.
      const bobSock = await authed(b.url, bobToken);
      const ids = Array.from({ length: BURST }, (_, i) => `burst${String(i).padStart(6, '0')}`);
      const acked = new Set<number>();
      const burst = async (sock: RawSocket, from: number[], killAfter?: number) => {
        sock.ws.on('message', () => {
          const f = sock.frames.at(-1);
          if (f?.t === 'ok') acked.add(f.r);
          if (killAfter !== undefined && acked.size >= killAfter && a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
        });
        for (const i of from) {
          if (sock.ws.readyState !== sock.ws.OPEN) break;
          sock.send(encodeFrame({ t: 'send', r: i, c: conversation, e: 1, id: ids[i] as never, p: new Uint8Array(32) }));
          if (i % 300 === 0) await new Promise((r) => setImmediate(r));
        }
      };
      const onA = await authed(a.url, aliceToken);
      await burst(onA, ids.map((_, i) => i), BURST / 3);
      await onA.waitClosed();
      await exited(a.child);
      // Alice reconnects to node B and resends everything not acknowledged (the server ignores ones it has).
      const onB = await authed(b.url, aliceToken);
      const rest = ids.map((_, i) => i).filter((i) => !acked.has(i));
      await burst(onB, rest);
      const deadline = Date.now() + 30_000;
      while (acked.size < BURST && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(acked.size).toBe(BURST);
      onB.close();

      // What Bob's device got: pushes while connected plus a final fetch, de-duplicated by queue sequence as the
      // client does.
      const got = await receivedAppIds(bobSock);
      bobSock.close();
      expect(got).toEqual(ids); // every message, exactly once, in order
      const pushed = bobSock.frames.filter((f) => f.t === 'push').length;
      console.log(`two nodes: ${BURST} acknowledged; ${pushed} pushed live to the device on the surviving node`);
      expect(pushed).toBeGreaterThan(0);
    } finally {
      for (const n of [a, b]) n.child.kill('SIGTERM');
      await Promise.all([exited(a.child), exited(b.child)]);
    }
  }, 120_000);
});
