// npm run bench:files — encrypted file transfer against plain transfer of the same bytes and raw AES-GCM, all
// measured in this run on this machine. Goal: encrypted transfer >= 50% of plain transfer throughput.
// `--large` adds a 1 GiB round trip and reports the client's peak RSS (the server runs in its own process).
import { createCipheriv, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileTransfer, HttpApi, ProfileStore } from '../packages/client/dist/index.js';
import { median, printTable, startServer, tempDir, timeIt } from './lib.mjs';

const MiB = 1024 * 1024;
const large = process.argv.includes('--large');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const sizes = [1, 256, ...(large ? [1024] : [])];

function makeFile(path, mib) {
  const fd = openSync(path, 'w');
  const block = randomBytes(MiB);
  for (let i = 0; i < mib; i++) {
    block[0] = i & 0xff; // not all identical blocks
    writeSync(fd, block);
  }
  closeSync(fd);
}

async function rawAesGcm(path) {
  const key = randomBytes(32);
  let i = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) {
    const iv = Buffer.alloc(12);
    iv.writeUInt32BE(i++, 8);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.update(chunk);
    c.final();
    c.getAuthTag();
  }
}

/** Plain upload: the same bytes, unencrypted, through the same blob API in the same part size. */
async function plainUpload(url, token, path) {
  const size = statSync(path).size;
  const res = await fetch(`${url}/v1/blobs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ size }) });
  const { id } = await res.json();
  const part = 8 * MiB;
  for (let off = 0; off < size; off += part) {
    const body = Readable.toWeb(createReadStream(path, { start: off, end: Math.min(size, off + part) - 1, highWaterMark: MiB }));
    const put = await fetch(`${url}/v1/blobs/${id}?offset=${off}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    });
    if (!put.ok) throw new Error(`plain upload failed: ${await put.text()}`);
  }
  return id;
}

async function plainDownload(url, token, id, out) {
  const res = await fetch(`${url}/v1/blobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
  await pipeline(Readable.fromWeb(res.body), createWriteStream(out));
}

const dir = tempDir('files');
const server = await startServer(['--max-file-size', String(2 * 1024 * MiB)]);
try {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  await alice.client.send({ to: ['bob@localhost'] }, 'warm up');
  await bob.client.sync();
  const store = ProfileStore.open(alice.profile, { create: false });
  const token = store.getMetaText('session_token');
  // The same FileTransfer the client uses, driven directly so that only the transfer is timed (not the message).
  const transfer = new FileTransfer(new HttpApi(server.url, async () => token), store, async () => token);

  const rows = [];
  for (const mib of sizes) {
    const src = join(dir, `src-${mib}.bin`);
    makeFile(src, mib);
    const t = { aes: [], plainUp: [], plainDown: [], encUp: [], encDown: [] };
    const n = mib >= 1024 ? 1 : runs;
    for (let r = 0; r < n; r++) {
      t.aes.push(await timeIt(() => rawAesGcm(src)));
      let id;
      t.plainUp.push(await timeIt(async () => (id = await plainUpload(server.url, token, src))));
      t.plainDown.push(await timeIt(() => plainDownload(server.url, token, id, join(dir, 'plain.out'))));
      let ref;
      t.encUp.push(await timeIt(async () => (ref = (await transfer.upload(src)).ref)));
      t.encDown.push(await timeIt(() => transfer.download(ref, join(dir, 'enc.out'))));
      rmSync(join(dir, 'plain.out'), { force: true });
      rmSync(join(dir, 'enc.out'), { force: true });
    }
    const rate = (xs) => mib / median(xs);
    const row = {
      size: `${mib} MiB`,
      'AES-GCM MiB/s': rate(t.aes).toFixed(0),
      'plain up MiB/s': rate(t.plainUp).toFixed(0),
      'enc+up MiB/s': rate(t.encUp).toFixed(0),
      'up ratio': (median(t.plainUp) / median(t.encUp)).toFixed(2),
      'plain down MiB/s': rate(t.plainDown).toFixed(0),
      'down+dec MiB/s': rate(t.encDown).toFixed(0),
      'down ratio': (median(t.plainDown) / median(t.encDown)).toFixed(2),
    };
    if (large) row['client peak RSS MiB'] = (process.resourceUsage().maxRSS / 1024).toFixed(0);
    rows.push(row);
    rmSync(src, { force: true });
  }
  console.log(`\nbench:files — ${runs} run(s) per size, median; server in its own process; ratios are plain time / encrypted time (goal >= 0.50)\n`);
  printTable(rows, Object.keys(rows.at(-1)));
  console.log(`\nclient peak RSS over the whole run: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  if (hwm) console.log(`server peak RSS over the whole run: ${(Number(hwm[1]) / 1024).toFixed(0)} MiB`);
  store.close();
  await alice.client.close();
  await bob.client.close();
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
