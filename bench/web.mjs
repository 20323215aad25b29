// npm run bench:web — the web client in Debian's Chromium (playwright-core), against a real server on loopback, in
// one run: time from navigation to a usable conversation list; JavaScript transferred (gzip); MLS encrypt+decrypt
// pairs/s in the page beside the Node provider; opening a conversation with 1,000 messages waiting (decrypt, store,
// render); encrypted upload and download of 100 MiB beside a plain transfer of the same bytes.
// Goals: list < 1 s; <= 250 KB gzip JS; >= 1,000 MLS pairs/s in the page; 1,000 waiting shown <= 2 s; encrypted
// transfer >= 50 % of plain. BENCH_FILE_MIB (default 100), BENCH_WAITING (default 1000) make it smaller.
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { HttpApi } from '../packages/client/dist/index.js';
import { nodeCiphersuite } from '../packages/crypto/dist/index.js';
import { median, printTable, startServer, tempDir } from './lib.mjs';
import { mlsPairs } from './web/mls-pairs.mjs';

const FILE_MIB = Number(process.env.BENCH_FILE_MIB ?? 100);
const WAITING = Number(process.env.BENCH_WAITING ?? 1000);
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'packages/web/dist');
const rows = [];
const row = (measure, value, goal, ok) => rows.push({ measure, value, goal, met: ok === undefined ? '' : ok ? 'yes' : 'NO' });

// ---- the page script: the SDK and ts-mls as the app bundles them, served beside the app (a copy of its build) ----
// so that it runs under the page's real Content-Security-Policy, loaded as a module from the same origin.
const webDir = join(tempDir('web'), 'dist');
cpSync(dist, webDir, { recursive: true });
await build({
  configFile: join(root, 'packages/web/vite.config.ts'),
  logLevel: 'warn',
  build: { outDir: join(webDir, 'bench'), emptyOutDir: false, lib: { entry: join(root, 'bench/web/page.ts'), formats: ['es'], fileName: () => 'page.js' }, minify: true },
});

// ---- JavaScript shipped ----------------------------------------------------------------------------------------
const js = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js'));
const gzipBytes = js.reduce((n, f) => n + gzipSync(readFileSync(join(dist, 'assets', f)), { level: 9 }).length, 0);

// ---- MLS in Node, the same loop as the page -------------------------------------------------------------------
const nodePairs = (n) => mlsPairs(nodeCiphersuite(), n);

const server = await startServer(['--web-dir', webDir]);
let version = '';
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
const admin = new HttpApi(server.url);
const addUser = (user) => admin.request('POST', '/v1/admin/users', { user }, { admin: server.adminToken });
version = browser.version();
try {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  page.on('console', (m) => m.type() === 'error' && process.stderr.write(`page console: ${m.text()}\n`));

  // Alice in the app, bob in Node.
  const bob = await server.enroll('bob');
  const a = await addUser('alice');
  await page.goto(server.url);
  await page.getByLabel('Your user name').fill('alice');
  await page.getByLabel('Activation code').fill(a.activationCode);
  await page.getByTestId('enroll').click();
  await page.getByText('Online').waitFor({ timeout: 30_000 });
  await bob.client.send({ to: ['alice@localhost'] }, 'first');
  await page.getByTestId('conversation').first().waitFor({ timeout: 30_000 });

  // Navigation to a usable list: a fresh load of the page, until the list shows the conversation (median of 5).
  const listMs = [];
  let transferred = 0;
  for (let i = 0; i < 5; i++) {
    const t = Date.now();
    await page.goto(server.url);
    await page.getByTestId('conversation').first().waitFor({ timeout: 30_000 });
    listMs.push(Date.now() - t);
    if (i === 0) {
      transferred = await page.evaluate(() => performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js')).reduce((n, r) => n + r.encodedBodySize, 0));
    }
  }
  row('navigation → conversation list (median of 5)', `${median(listMs)} ms`, '< 1000 ms', median(listMs) < 1000);
  row('JavaScript, gzip (all chunks / fetched at load)', `${(gzipBytes / 1024).toFixed(1)} KiB / ${(transferred / 1024).toFixed(1)} KiB`, '<= 250 KB', gzipBytes <= 250_000);

  // 1,000 messages waiting while the page is closed, then opened.
  await page.goto('about:blank');
  const conv = bob.client.conversations()[0].id;
  for (let i = 1; i <= WAITING; i++) await bob.client.send({ conversation: conv }, `waiting ${i}`);
  const t0 = Date.now();
  await page.goto(server.url);
  await page.getByTestId('conversation').first().click({ timeout: 60_000 });
  await page.getByText(`waiting ${WAITING}`, { exact: true }).waitFor({ timeout: 120_000 });
  const waitingMs = Date.now() - t0;
  row(`open a conversation with ${WAITING} waiting (decrypt, store, render)`, `${waitingMs} ms`, '<= 2000 ms', waitingMs <= 2000);

  // MLS pairs in a page (the app's provider: WebCrypto + noble) and in Node (node:crypto), same loop; the bench
  // module runs in a page of its own context, under the app's CSP.
  const benchCtx = await browser.newContext();
  const benchPage = await benchCtx.newPage();
  benchPage.on('pageerror', (e) => process.stderr.write(`bench page error: ${e.message}\n`));
  await benchPage.goto(server.url);
  await benchPage.evaluate(async () => {
    globalThis.SealpostBench = await import('/bench/page.js');
  });
  const pagePairs = await benchPage.evaluate(() => globalThis.SealpostBench.mlsPairs(1000));
  const nodeP = await nodePairs(1000);
  row('MLS encrypt+decrypt pairs/s in the page (1 KiB)', `${Math.round(pagePairs)} /s (Node provider: ${Math.round(nodeP)} /s)`, '>= 1000 /s', pagePairs >= 1000);

  // 100 MiB: encrypted upload and download against the same bytes plain.
  const up = await addUser('uploader');
  await benchPage.evaluate(([url, user, code]) => globalThis.SealpostBench.enroll(url, user, code), [server.url, 'uploader', up.activationCode]);
  const size = FILE_MIB * 1024 * 1024;
  const enc = await benchPage.evaluate(([s]) => globalThis.SealpostBench.encryptedTransfer('bob@localhost', s), [size]);
  const plain = await benchPage.evaluate(([s]) => globalThis.SealpostBench.plainTransfer(s), [size]);
  const mibs = (ms) => (FILE_MIB / (ms / 1000)).toFixed(0);
  // The goal compares each encrypted direction with a plain upload of the same bytes (the baseline); a plain
  // download that only counts bytes (no decryption, no disk) is shown beside, for what the network path costs.
  const upRatio = plain.uploadMs / enc.uploadMs;
  const downRatio = plain.uploadMs / enc.downloadMs;
  row(`${FILE_MIB} MiB encrypted upload / plain upload`, `${mibs(enc.uploadMs)} / ${mibs(plain.uploadMs)} MiB/s (${(upRatio * 100).toFixed(0)} %)`, '>= 50 %', upRatio >= 0.5);
  row(`${FILE_MIB} MiB download decrypted to disk / plain upload`, `${mibs(enc.downloadMs)} / ${mibs(plain.uploadMs)} MiB/s (${(downRatio * 100).toFixed(0)} %)`, '>= 50 %', downRatio >= 0.5);
  row(`${FILE_MIB} MiB plain download, bytes counted only`, `${mibs(plain.downloadMs)} MiB/s`, '', undefined);
  await bob.client.close();
} finally {
  await browser.close();
  await server.close();
  rmSync(webDir, { recursive: true, force: true });
}
console.log(`bench:web — Chromium ${version}, loopback, load average ${loadavg()[0].toFixed(2)} on ${cpus().length} cores`);
printTable(rows, ['measure', 'value', 'goal', 'met']);
