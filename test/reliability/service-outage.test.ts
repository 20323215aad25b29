// PostgreSQL and NATS go away during traffic between two server nodes, twice over:
// - really restarted: a private PostgreSQL and a private NATS server (own ports and folders, from the machine's
//   binaries) are stopped for 3 s and started again — skipped, saying why, where the binaries are missing;
// - as the nodes see a restart, on the shared services: a proxy in front of each drops every connection and refuses
//   new ones for 3 s (needs SEALPOST_TEST_POSTGRES_URL and SEALPOST_TEST_NATS_URL; skipped otherwise).
// A sender on node A keeps sending through both outages, retrying what was refused; the nodes recover by
// themselves (no restart of theirs, /readyz ready again) and every acknowledged message reaches the recipient on
// node B exactly once, in order.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '@sealpost/protocol';
import { tempDir } from '../helpers.js';
import { aliceAndBob, authed, exited, receivedAppIds, startNode, suiteScratch } from './nodes.js';
import type { RawSocket } from '../raw-socket.js';
import { startProxy } from './tcp-proxy.js';
import { privateNatsUnavailable, privatePostgresUnavailable, startPrivateNats, startPrivatePostgres } from './private-services.js';

const pgUrl = process.env.SEALPOST_TEST_POSTGRES_URL;
const natsUrl = process.env.SEALPOST_TEST_NATS_URL;
const MESSAGES = 300;

interface Outages {
  /** PostgreSQL for the nodes (a schema is added), NATS for the nodes. */
  db: URL;
  nats: string;
  dir: string;
  pgOutage(): Promise<void>;
  natsOutage(): Promise<void>;
}

/** Two nodes, a stream of sends one at a time through both outages; checks what the recipient got. */
async function sendThroughOutages(o: Outages): Promise<void> {
  const common = ['--data', join(o.dir, 'data'), '--db', o.db.toString(), '--bus', o.nats];
  const a = await startNode(common);
  const b = await startNode(common);
  try {
    const { conversation, aliceToken, bobToken } = await aliceAndBob(o.dir, a, b);
    const bobSock = await authed(b.url, bobToken);
    const onA = await authed(a.url, aliceToken);

    // Alice sends one message at a time, as the client's outbox does, retrying a refused one until it is
    // acknowledged. Outages start a third and two thirds of the way in.
    const ids = Array.from({ length: MESSAGES }, (_, i) => `outage${String(i).padStart(5, '0')}`);
    let refused = 0;
    const outages: Promise<void>[] = [];
    const readyDuringPgOutage: number[] = [];
    for (let i = 0, r = 1; i < MESSAGES; i++) {
      if (i === Math.floor(MESSAGES / 3)) {
        outages.push(o.pgOutage());
        await new Promise((res) => setTimeout(res, 500));
        readyDuringPgOutage.push((await fetch(`${a.url}/readyz`)).status);
      }
      if (i === Math.floor((2 * MESSAGES) / 3)) outages.push(o.natsOutage());
      for (let attempt = 0; ; attempt++) {
        if (attempt > 300) throw new Error(`message ${i} never acknowledged`);
        const before = onA.frames.length;
        onA.send(encodeFrame({ t: 'send', r: r++, c: conversation, e: 1, id: ids[i] as never, p: new Uint8Array(32) }));
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
  }
}

const noPrivate = privatePostgresUnavailable() ?? privateNatsUnavailable();
if (noPrivate) console.log(`skipping the real-restart test: ${noPrivate}`);

describe.skipIf(noPrivate !== undefined)('a private PostgreSQL and a private NATS really restarted during traffic', () => {
  it('recovers by itself and loses nothing acknowledged', async () => {
    const dir = tempDir('restart');
    const postgres = await startPrivatePostgres();
    const nats = await startPrivateNats();
    try {
      const db = new URL(postgres.url);
      db.searchParams.set('schema', 'sealpost_restart');
      await sendThroughOutages({ db, nats: nats.url, dir, pgOutage: () => postgres.restart(3000), natsOutage: () => nats.restart(3000) });
    } finally {
      await nats.stop();
      await postgres.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe.skipIf(!pgUrl || !natsUrl)('PostgreSQL and NATS outages (a proxy drops every connection) during traffic', () => {
  const { dir, schema } = suiteScratch(pgUrl, 'out');

  it('recovers by itself and loses nothing acknowledged', async () => {
    const pgTarget = new URL(pgUrl!);
    const natsTarget = new URL(natsUrl!);
    const pgProxy = await startProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    const natsProxy = await startProxy(natsTarget.hostname, Number(natsTarget.port || 4222));
    try {
      const db = new URL(pgUrl!);
      db.port = String(pgProxy.port);
      db.searchParams.set('schema', schema);
      await sendThroughOutages({ db, nats: `nats://127.0.0.1:${natsProxy.port}`, dir, pgOutage: () => pgProxy.outage(3000), natsOutage: () => natsProxy.outage(3000) });
    } finally {
      await pgProxy.close();
      await natsProxy.close();
    }
  }, 180_000);
});
