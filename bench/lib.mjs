// Shared benchmark helpers: a real server in its own process, enrolled clients, timing and table printing.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HttpApi, SealpostClient } from '../packages/client/dist/index.js';
import { nodeCiphersuite } from '../packages/crypto/dist/index.js';
import { GroupEngine, challengeMessage, fromBase64Url, newDeviceId, signDeviceList, signLabelled, toBase64Url } from '../packages/protocol/dist/index.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/sealpost.js', import.meta.url));

/** Whether every file that patches/patches.json lists for `pkg` is installed patched (scripts/patch-deps.mjs). */
export function patchesApplied(pkg) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { patches } = JSON.parse(readFileSync(join(root, 'patches', 'patches.json'), 'utf8'));
  return patches
    .filter((p) => p.package === pkg)
    .every((p) => readFileSync(join(root, 'node_modules', pkg, p.file)).equals(readFileSync(join(root, 'patches', `${pkg}@${p.version}`, p.file))));
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `sealpost-bench-${prefix}-`));
}

/** Start `sealpost server` in a child process on 127.0.0.1:0 (in a new data folder unless `opts.dataDir`; rate limits off unless `opts.rateLimits`). */
export async function startServer(extraArgs = [], opts = {}) {
  const dir = opts.dataDir ?? tempDir('server');
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the server under load.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The load generator opens thousands of connections from one address: rate limits would measure themselves
  // (`opts.rateLimits` keeps them, for benchmarks of the defences).
  const limits = opts.rateLimits ? [] : ['--insecure-no-rate-limits'];
  const serverArgs = ['server', '--data', dir, '--listen', '127.0.0.1:0', '--json', '--log-level', 'warn', ...limits, ...extraArgs];
  const child = spawn(process.execPath, [...nodeArgs, bin, ...serverArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let url, token;
  const rl = createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 30_000);
    rl.on('line', (line) => {
      const m = JSON.parse(line);
      if (m.adminToken) token = m.adminToken;
      if (m.listening) {
        url = m.listening;
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const admin = new HttpApi(url);
  const profiles = [];
  return {
    url,
    pid: child.pid,
    adminToken: token,
    dataDir: dir,
    async enroll(name) {
      const r = await admin.request('POST', '/v1/admin/users', { user: name }, { admin: token });
      const profile = tempDir(`profile-${name}`);
      profiles.push(profile);
      const client = await SealpostClient.enroll({ server: url, user: r.user, code: r.activationCode, profile });
      return { client, profile };
    },
    /** Stop the server; its data folder goes too unless `keepData`. */
    async close({ keepData = false } = {}) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      if (!keepData) rmSync(dir, { recursive: true, force: true });
      for (const p of profiles) rmSync(p, { recursive: true, force: true });
    },
  };
}

/**
 * `n` users with one device each, enrolled over the real API (account-signed device list, KeyPackages) and signed
 * in: [{ device, token }]. Raw API calls instead of the SDK: thousands of profiles on disk would measure the disk.
 */
export async function enrollDevices(server, n, prefix) {
  const cs = nodeCiphersuite();
  const engine = await GroupEngine.create(async () => true, cs);
  const admin = new HttpApi(server.url);
  const devices = [];
  for (let i = 0; i < n; i++) {
    const r = await admin.request('POST', '/v1/admin/users', { user: `${prefix}${i}` }, { admin: server.adminToken });
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
    if ((i + 1) % 1000 === 0) process.stderr.write(`  ${i + 1} enrolled\n`);
  }
  return devices;
}

export async function timeIt(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function printTable(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells) => cells.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(columns.map((c) => r[c])));
}

/**
 * Fan-out bookkeeping for the delivery benchmark (bench/delivery.mjs, bench/prosody-load.mjs): a message is done when
 * its last member has it. `sent(id)` when it leaves; `received(id)` per member copy, true for the last one.
 */
function lastMemberTracker(members) {
  const left = new Map();
  return {
    sent: (id) => left.set(id, members),
    received(id) {
      const rest = left.get(id) - 1;
      if (rest > 0) {
        left.set(id, rest);
        return false;
      }
      left.delete(id);
      return true;
    },
  };
}

/**
 * Fan-out in a closed loop: one sender to `members` recipients for `seconds`, `window` messages in flight, each
 * complete when its last member has it (lastMemberTracker). `send(id, at)` sends message `id`; `hook(onDelivery)`
 * attaches the receivers, which call `onDelivery(id, sentAt)` for every copy that arrives. Returns
 * device-deliveries, messages, seconds and the latency to the last member of each message. Used for Sealpost and
 * the ack relay (delivery.mjs) and for Prosody's MUC (prosody-load.mjs).
 */
export async function fanOutLoop({ members, window, seconds, send, hook }) {
  const lat = [];
  let deliveries = 0;
  let messages = 0;
  let stop = false;
  let n = 0;
  const tracker = lastMemberTracker(members);
  const t0 = performance.now();
  await new Promise((resolve) => {
    let inflight = 0;
    const pump = () => {
      if (stop) {
        if (inflight === 0) resolve();
        return;
      }
      while (inflight < window) {
        inflight++;
        const id = n++;
        tracker.sent(id);
        send(id, performance.now());
      }
    };
    hook((id, sentAt) => {
      deliveries++;
      if (!tracker.received(id)) return;
      lat.push(performance.now() - sentAt);
      messages++;
      inflight--;
      pump();
    });
    pump();
    setTimeout(() => {
      stop = true;
      if (inflight === 0) resolve();
    }, seconds * 1000);
  });
  return { deliveries, messages, seconds: (performance.now() - t0) / 1000, lat };
}
