// npm run bench:delivery — the live delivery path of a real Sealpost server (its own process, SQLite) against a
// raw `ws` relay measured in the same run. N clients in pairs; each sender keeps a window of frames in flight;
// receivers ack. Prints delivered msgs/s, p50/p99 latency, server CPU µs per message and the ratio to the relay.
// BENCH_CLIENTS (default 2000), BENCH_SECONDS (default 10), BENCH_SIZES (default 256,4096).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { decodeServerFrame, encodeFrame, newConversationId, newMessageId, newDeviceId, signDeviceList, toBase64Url, challengeMessage, signLabelled, fromBase64Url } from '../packages/protocol/dist/index.js';
import { nodeCiphersuite } from '../packages/crypto/dist/index.js';
import { GroupEngine } from '../packages/protocol/dist/index.js';
import { HttpApi } from '../packages/client/dist/index.js';
import { printTable, startServer } from './lib.mjs';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SIZES = (process.env.BENCH_SIZES ?? '256,4096').split(',').map(Number);
const WINDOW = 2;
const PAIRS = CLIENTS / 2;

function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, seconds (CLK_TCK 100)
}
function rssOf(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}
const pct = (xs, p) => xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const open = (url) => new Promise((res, rej) => { const ws = new WebSocket(url, { perMessageDeflate: false }); ws.binaryType = 'nodebuffer'; ws.once('open', () => res(ws)); ws.once('error', rej); });

/** Run a closed-loop load over `pairs` for SECONDS: returns delivered count and latencies (ms). */
async function load(pairs, size, send) {
  const lat = [];
  let delivered = 0;
  let stop = false;
  const t0 = performance.now();
  await Promise.all(pairs.map(async (pair) => {
    let inflight = 0;
    await new Promise((resolve) => {
      pair.onDeliver = (sentAt) => {
        delivered++;
        lat.push(performance.now() - sentAt);
        inflight--;
        pump();
      };
      const pump = () => {
        if (stop) { if (inflight === 0) resolve(); return; }
        while (inflight < WINDOW) { inflight++; send(pair, size); }
      };
      pump();
      setTimeout(() => { stop = true; if (inflight === 0) resolve(); }, SECONDS * 1000);
    });
  }));
  return { delivered, seconds: (performance.now() - t0) / 1000, lat };
}

const results = [];

// ---- baseline: raw ws relay ----------------------------------------------------------------------------------
{
  const child = spawn(process.execPath, [fileURLToPath(new URL('./relay.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((res) => createInterface({ input: child.stdout }).once('line', (l) => res(JSON.parse(l).listening)));
  const pairs = [];
  for (let i = 0; i < PAIRS; i++) {
    const a = await open(`${url}/?id=a${i}&peer=b${i}`);
    const b = await open(`${url}/?id=b${i}&peer=a${i}`);
    const pair = { a, b, onDeliver: () => {} };
    b.on('message', (data) => pair.onDeliver(data.readDoubleLE(0)));
    pairs.push(pair);
  }
  for (const size of SIZES) {
    const cpu0 = cpuOf(child.pid);
    const r = await load(pairs, size, (pair, n) => { const buf = Buffer.alloc(n); buf.writeDoubleLE(performance.now(), 0); pair.a.send(buf); });
    const cpu = cpuOf(child.pid) - cpu0;
    results.push({ target: 'raw ws relay', size, rate: r.delivered / r.seconds, p50: pct(r.lat, 50), p99: pct(r.lat, 99), cpuUs: (cpu / r.delivered) * 1e6 });
  }
  for (const p of pairs) { p.a.terminate(); p.b.terminate(); }
  child.kill('SIGTERM');
}

// ---- Sealpost: enroll devices over the real API, pair them in conversations, then load --------------------------
{
  const server = await startServer();
  const pid = server.pid;
  const cs = nodeCiphersuite();
  const engine = await GroupEngine.create(async () => true, cs);
  const admin = new HttpApi(server.url);
  process.stderr.write(`enrolling ${CLIENTS} devices...\n`);
  const devices = [];
  for (let i = 0; i < CLIENTS; i++) {
    const r = await admin.request('POST', '/v1/admin/users', { user: `load${i}` }, { admin: server.adminToken });
    const device = newDeviceId();
    const account = await engine.generateSignatureKeyPair();
    const keys = await engine.generateSignatureKeyPair();
    const list = await signDeviceList(cs.signature, account.privateKey, { user: r.user, version: 1, accountKey: account.publicKey, devices: [{ id: device, signatureKey: keys.publicKey, addedAt: Date.now() }] });
    const kp = await engine.createKeyPackage({ user: r.user, device }, keys);
    const last = await engine.createKeyPackage({ user: r.user, device }, keys);
    await admin.request('POST', '/v1/enroll', { user: r.user, code: r.activationCode, device, deviceList: { body: toBase64Url(list.body), signature: toBase64Url(list.signature) }, keyPackages: [toBase64Url(kp.publicBytes)], lastResortKeyPackage: toBase64Url(last.publicBytes) }, 'none');
    const ch = await admin.request('POST', '/v1/auth/challenge', { device }, 'none');
    const sig = await signLabelled(cs.signature, keys.privateKey, 'auth-challenge', challengeMessage(ch.domain, device, fromBase64Url(ch.challenge)));
    const s = await admin.request('POST', '/v1/auth/session', { device, challenge: ch.challenge, signature: toBase64Url(sig) }, 'none');
    devices.push({ device, token: s.token });
  }
  const wsUrl = `${server.url.replace('http', 'ws')}/v1/ws`;
  const rssBefore = rssOf(pid);
  const sockets = [];
  for (const d of devices) {
    const ws = await open(wsUrl);
    ws.send(encodeFrame({ t: 'auth', token: d.token }));
    await new Promise((res) => ws.once('message', res));
    sockets.push(ws);
  }
  const idleBytes = (rssOf(pid) - rssBefore) / CLIENTS;
  // Pair devices 2i and 2i+1 in a conversation (the server routes by membership; it never reads MLS content).
  const pairs = [];
  let r = 1;
  for (let i = 0; i < PAIRS; i++) {
    const a = sockets[2 * i], b = sockets[2 * i + 1];
    const c = newConversationId();
    const auth = { authorization: `Bearer ${devices[2 * i].token}` };
    await fetch(`${server.url}/v1/conversations`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ id: c }) });
    a.send(encodeFrame({ t: 'commit', r: r++, c, e: 0, id: newMessageId(), p: new Uint8Array(64), w: new Uint8Array(64), add: [devices[2 * i + 1].device], remove: [] }));
    await new Promise((res) => a.once('message', res));
    const pair = { a, b, c, onDeliver: () => {}, r: 0 };
    b.on('message', (data) => {
      const f = decodeServerFrame(new Uint8Array(data));
      if (f.t === 'push' && f.item.k === 'app') {
        b.send(encodeFrame({ t: 'ack', seqs: [f.item.seq] }));
        pair.onDeliver(Buffer.from(f.item.p.buffer, f.item.p.byteOffset, 8).readDoubleLE(0));
      } else if (f.t === 'push') b.send(encodeFrame({ t: 'ack', seqs: [f.item.seq] }));
    });
    a.on('message', () => {}); // ok frames
    pairs.push(pair);
  }
  for (const size of SIZES) {
    const cpu0 = cpuOf(pid);
    const res = await load(pairs, size, (pair, n) => {
      const p = Buffer.alloc(n);
      p.writeDoubleLE(performance.now(), 0);
      pair.a.send(encodeFrame({ t: 'send', r: ++pair.r, c: pair.c, e: 1, id: newMessageId(), p }));
    });
    const cpu = cpuOf(pid) - cpu0;
    results.push({ target: 'sealpost (SQLite)', size, rate: res.delivered / res.seconds, p50: pct(res.lat, 50), p99: pct(res.lat, 99), cpuUs: (cpu / res.delivered) * 1e6 });
  }
  for (const s of sockets) s.terminate();
  await server.close();
  console.log(`\nidle memory per authenticated connection (server RSS growth / ${CLIENTS}): ${(idleBytes / 1024).toFixed(1)} KB`);
}

const base = Object.fromEntries(results.filter((x) => x.target === 'raw ws relay').map((x) => [x.size, x.rate]));
console.log(`\nbench:delivery — ${CLIENTS} clients in ${PAIRS} pairs, window ${WINDOW} per sender, ${SECONDS} s per case\n`);
printTable(results.map((x) => ({
  target: x.target,
  size: `${x.size} B`,
  'msgs/s': x.rate.toFixed(0),
  'p50 ms': x.p50.toFixed(1),
  'p99 ms': x.p99.toFixed(1),
  'server CPU µs/msg': x.cpuUs.toFixed(0),
  'ratio to relay': (x.rate / base[x.size]).toFixed(2),
})), ['target', 'size', 'msgs/s', 'p50 ms', 'p99 ms', 'server CPU µs/msg', 'ratio to relay']);
