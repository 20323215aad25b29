// PostgreSQL and NATS "restart" during traffic, as two server nodes see it: a proxy in front of each drops every
// connection and refuses new ones for a few seconds (the shared services themselves are never touched). A sender
// on node A keeps sending through both outages, retrying what was refused; the nodes recover by themselves (no
// restart, /readyz ready again) and every acknowledged message reaches the recipient on node B exactly once, in
// order. Needs SEALPOST_TEST_POSTGRES_URL and SEALPOST_TEST_NATS_URL; skipped otherwise.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpApi, SealpostClient } from '@sealpost/client';
import { encodeFrame, type ConversationId } from '@sealpost/protocol';
import { sessionTokenOf as tokenOf, tempDir } from '../helpers.js';
import { authed, exited, receivedAppIds, startNode } from './nodes.js';
import type { RawSocket } from '../raw-socket.js';
import { startProxy } from './tcp-proxy.js';

const pgUrl = process.env.SEALPOST_TEST_POSTGRES_URL;
const natsUrl = process.env.SEALPOST_TEST_NATS_URL;
const MESSAGES = 300;

describe.skipIf(!pgUrl || !natsUrl)('PostgreSQL and NATS outages during traffic', () => {
  const dir = tempDir('outage');
  const schema = `sealpost_out_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('recovers by itself and loses nothing acknowledged', async () => {
    const pgTarget = new URL(pgUrl!);
    const natsTarget = new URL(natsUrl!);
    const pgProxy = await startProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    const natsProxy = await startProxy(natsTarget.hostname, Number(natsTarget.port || 4222));
    const db = new URL(pgUrl!);
    db.port = String(pgProxy.port);
    db.searchParams.set('schema', schema);
    const common = ['--data', join(dir, 'data'), '--db', db.toString(), '--bus', `nats://127.0.0.1:${natsProxy.port}`];
    const a = await startNode(common);
    const b = await startNode(common);
    try {
      const admin = new HttpApi(a.url);
      const enroll = async (name: string, server: string) => {
        const r = await admin.request<{ user: string; activationCode: string }>('POST', '/v1/admin/users', { user: name }, { admin: a.token! });
        const profile = join(dir, name);
        const client = await SealpostClient.enroll({ server, user: r.user, code: r.activationCode, profile });
        return { client, profile };
      };
      const alice = await enroll('alice', a.url);
      const bob = await enroll('bob', b.url);
      const { conversation } = await alice.client.send({ to: ['bob@localhost'] }, 'setup');
      await bob.client.sync();
      await alice.client.close();
      await bob.client.close();
      const bobSock = await authed(b.url, tokenOf(bob.profile));
      const onA = await authed(a.url, tokenOf(alice.profile));

      // Alice sends one message at a time, as the client's outbox does, retrying a refused one until it is
      // acknowledged. Outages start a third and two thirds of the way in.
      const ids = Array.from({ length: MESSAGES }, (_, i) => `outage${String(i).padStart(5, '0')}`);
      let refused = 0;
      const outages: Promise<void>[] = [];
      const readyDuringPgOutage: number[] = [];
      for (let i = 0, r = 1; i < MESSAGES; i++) {
        if (i === Math.floor(MESSAGES / 3)) {
          outages.push(pgProxy.outage(3000));
          await new Promise((res) => setTimeout(res, 200));
          readyDuringPgOutage.push((await fetch(`${a.url}/readyz`)).status);
        }
        if (i === Math.floor((2 * MESSAGES) / 3)) outages.push(natsProxy.outage(3000));
        for (let attempt = 0; ; attempt++) {
          if (attempt > 300) throw new Error(`message ${i} never acknowledged`);
          const before = onA.frames.length;
          onA.send(encodeFrame({ t: 'send', r: r++, c: conversation as ConversationId, e: 1, id: ids[i] as never, p: new Uint8Array(32) }));
          const answer = (await onA.waitFrames(before + 1)).slice(before).find((f) => f.t === 'ok' || f.t === 'err');
          if (answer?.t === 'ok') break;
          refused++;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      await Promise.all(outages);
      expect(readyDuringPgOutage).toEqual([503]);
      for (const n of [a, b]) expect((await fetch(`${n.url}/readyz`)).status).toBe(200);

      // Bob's device: pushes while connected, then a final fetch, de-duplicated by queue sequence as the client does.
      const got = await receivedAppIds(bobSock);
      expect(got).toEqual(ids); // every acknowledged message, exactly once, in order
      const pushed = bobSock.frames.filter((f) => f.t === 'push').length;
      console.log(`outages: ${MESSAGES} acknowledged, ${refused} sends refused during the outages and retried, ${pushed} pushed live across nodes`);
      expect(refused).toBeGreaterThan(0);
      onA.close();
      bobSock.close();
    } finally {
      for (const n of [a, b]) n.child.kill('SIGTERM');
      await Promise.all([exited(a.child), exited(b.child)]);
      await pgProxy.close();
      await natsProxy.close();
    }
  }, 180_000);
});
