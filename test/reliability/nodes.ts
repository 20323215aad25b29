// Server nodes as separate processes (the built CLI), for tests that kill them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';
import { HttpApi, SealpostClient } from '@sealpost/client';
import { encodeFrame, type ConversationId, type QueueItem } from '@sealpost/protocol';
import { sessionTokenOf, tempDir } from '../helpers.js';
import { RawSocket } from '../raw-socket.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  /** The admin token, when this start created it. */
  token?: string;
  /** host:port of the SMTP gateway, when started with --smtp-listen. */
  smtp?: string;
}

/** `sealpost server --json …` on 127.0.0.1:0 unless `args` says otherwise; resolves when it listens. */
export function startNode(args: string[]): Promise<NodeProcess> {
  const listen = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const child = spawn(process.execPath, [bin, 'server', ...listen, '--json', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  let token: string | undefined;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 30_000);
    rl.on('line', (line) => {
      const m = JSON.parse(line) as { adminToken?: string; listening?: string; smtp?: string };
      if (m.adminToken) token = m.adminToken;
      if (m.listening) {
        clearTimeout(timer);
        resolve({ child, url: m.listening, ...(token ? { token } : {}), ...(m.smtp ? { smtp: m.smtp } : {}) });
      }
    });
  });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** A raw device socket, authenticated with a session token. */
export async function authed(url: string, token: string): Promise<RawSocket> {
  const s = await RawSocket.open(url);
  s.send(encodeFrame({ t: 'auth', token }));
  const [f] = await s.waitFrames(1);
  if (f?.t !== 'auth-ok') throw new Error(`auth failed: ${JSON.stringify(f)}`);
  return s;
}

/**
 * What a device got: the pushes it saw while connected plus a final fetch of its whole queue, de-duplicated by
 * queue sequence as the client does; the ids of application messages in queue order.
 */
export async function receivedAppIds(sock: RawSocket): Promise<string[]> {
  const bySeq = new Map<number, QueueItem>();
  for (const f of sock.frames) if (f.t === 'push') bySeq.set(f.item.seq, f.item);
  for (let after = 0, r = 1; r < 100; r++) {
    const before = sock.frames.length;
    sock.send(encodeFrame({ t: 'fetch', r, after, limit: 200 }));
    const batch = (await sock.waitFrames(before + 1)).slice(before).find((f) => f.t === 'batch');
    if (batch?.t !== 'batch') throw new Error('no batch');
    for (const item of batch.items) bySeq.set(item.seq, item);
    if (!batch.more) break;
    after = batch.items.at(-1)!.seq;
  }
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq).filter((i) => i.k === 'app').map((i) => i.id as string);
}

/**
 * alice enrolled on node `a` and bob on node `b` (profiles under `dir`), a chat between them set up (alice's
 * first message, bob synced), both clients closed: what the tests then drive with raw sockets.
 */
export async function aliceAndBob(dir: string, a: NodeProcess, b: NodeProcess): Promise<{ conversation: ConversationId; aliceToken: string; bobToken: string }> {
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
  return { conversation: conversation as ConversationId, aliceToken: sessionTokenOf(alice.profile), bobToken: sessionTokenOf(bob.profile) };
}

/** A folder and a PostgreSQL schema name of one suite's own, both removed after the suite. */
export function suiteScratch(pgUrl: string | undefined, prefix: string): { dir: string; schema: string } {
  const dir = tempDir(prefix);
  const schema = `sealpost_${prefix}_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (!pgUrl) return;
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });
  return { dir, schema };
}
