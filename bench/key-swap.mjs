// The operator key-swap defences, measured: how long after an operator's edit of the database a watching device
// raises its alarm, how long a legitimate reset now waits before contacts' held messages reach the new device, and
// what holding a message costs the sender (against an ordinary send in the same run). A real server in its own
// process with SQLite; the edit is made straight in its database file, as a malicious operator would.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { HttpApi, SealpostClient } from '../packages/client/dist/index.js';
import { median, startServer, tempDir } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONTEST_MS = 5000;
const CHECK_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await startServer();
const admin = new HttpApi(server.url);
await admin.request('PUT', '/v1/admin/policy', { change: { keyChangeContestMs: CONTEST_MS } }, { admin: server.adminToken });
const open = (profile, extra = {}) => SealpostClient.open(profile, { selfCheckIntervalMs: CHECK_MS, ...extra });

// 1. Edit → alarm: bob only watches; the operator retires his record in the database (a faked reset, published by the
//    server in its next epoch). His device checks its own label every CHECK_MS.
const alarms = [];
for (let i = 0; i < ROUNDS; i++) {
  const enrolled = await server.enroll(`watcher${i}`);
  await enrolled.client.close();
  const { profile } = enrolled;
  const warnings = [];
  const bob = await open(profile, { warn: (m) => warnings.push(m) });
  const ac = new AbortController();
  const watching = bob.watch(() => {}, ac.signal).catch(() => {});
  await sleep(300 + Math.random() * CHECK_MS); // the edit lands anywhere in the monitoring interval
  const db = new Database(join(server.dataDir, 'sealpost.db'));
  const t0 = Date.now();
  db.prepare('DELETE FROM device_lists WHERE user = ?').run(bob.user);
  db.prepare('INSERT INTO kt_pending (user, seq) VALUES (?, 1000) ON CONFLICT(user) DO UPDATE SET seq = seq + 1').run(bob.user);
  db.close();
  for (let n = 0; n < 400 && !warnings.some((w) => w.startsWith('KEY TRANSPARENCY ALARM')); n++) await sleep(25);
  alarms.push(warnings.some((w) => w.startsWith('KEY TRANSPARENCY ALARM')) ? Date.now() - t0 : NaN);
  if (process.env.BENCH_DEBUG) console.error(warnings);
  ac.abort();
  await watching;
  await bob.close();
}

// 2. A legitimate reset: alice's message to bob is held, her client (watching) releases it when the contest period
//    ends, and bob's new device receives it.
const waits = [];
const holdMs = [];
const sendMs = [];
for (let i = 0; i < ROUNDS; i++) {
  const alice = await server.enroll(`alice${i}`);
  const bob = await server.enroll(`bob${i}`);
  const carol = await server.enroll(`carol${i}`);
  const a = alice.client;
  await a.send({ to: [bob.client.user] }, 'before');
  await a.send({ to: [carol.client.user] }, 'before');
  await bob.client.close();
  const reset = await admin.request('POST', `/v1/admin/users/${encodeURIComponent(bob.client.user)}/reset`, {}, { admin: server.adminToken });
  const bob2 = await SealpostClient.enroll({ server: server.url, user: bob.client.user, code: reset.activationCode, profile: tempDir('bob2') });
  // What holding costs the sender, beside an ordinary send to carol in the same chat setup.
  let t = Date.now();
  const held = await a.send({ to: [bob2.user] }, 'after the reset');
  holdMs.push(Date.now() - t);
  if (!held.held) throw new Error('the message was not held');
  t = Date.now();
  await a.send({ to: [carol.client.user] }, 'an ordinary message');
  sendMs.push(Date.now() - t);
  const heldAt = Date.now();
  await a.close();
  const alice2 = await open(alice.profile);
  const ac = new AbortController();
  const aliceWatch = alice2.watch(() => {}, ac.signal).catch(() => {});
  let got = false;
  for (let n = 0; n < 200 && !got; n++) {
    await sleep(100);
    got = (await bob2.sync()).some((m) => m.text === 'after the reset');
  }
  waits.push(got ? Date.now() - heldAt : NaN);
  ac.abort();
  await aliceWatch;
  await alice2.close();
  await bob2.close();
  await carol.client.close();
}
await server.close();

const fmt = (xs) => `median ${median(xs)} ms (min ${Math.min(...xs)}, max ${Math.max(...xs)}, n=${xs.length})`;
console.log(`key-swap defences (SQLite server, epochs every 1 s, self-check every ${CHECK_MS} ms, contest period ${CONTEST_MS} ms)`);
console.log(`  edit of the database -> alarm on the watching device: ${fmt(alarms)}  (bound: one self-check interval + one epoch)`);
console.log(`  legitimate reset: held message -> on the new device:  ${fmt(waits)}  (bound: contest period + one self-check interval)`);
console.log(`  sender's cost: send that is held ${fmt(holdMs)}; ordinary send ${fmt(sendMs)}`);
console.log('  (with the defaults, a self-check every 5 minutes and a contest period of 1 day, the bounds are ~5 min and ~1 day + 5 min)');
