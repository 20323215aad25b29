// The web client's build is reproducible: the same commit gives the same bytes, so `sealpost web verify` can compare
// what a server serves with a build anyone makes. Two fresh builds, and the one `npm run build` made, agree file by
// file.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { hashAsset, readBuild } from '@sealpost/server';
import { WEB_DIST, tempDir } from '../helpers.js';

const web = fileURLToPath(new URL('../../packages/web/', import.meta.url));
const viteBin = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function buildInto(): Promise<Map<string, string>> {
  const out = join(tempDir('web-build'), 'dist');
  dirs.push(out);
  // As `npm run build` runs it: its own process (vitest sets NODE_ENV=test, which a build must not see).
  const env = { ...process.env, NODE_ENV: 'production' };
  await promisify(execFile)(process.execPath, [viteBin, 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'error'], { cwd: web, env, timeout: 120_000 });
  return new Map([...readBuild(out)].map(([p, b]) => [p, hashAsset(b)]));
}

it('builds the same bytes twice, and the same as the installed build', async () => {
  const first = await buildInto();
  const second = await buildInto();
  expect(first.size).toBeGreaterThan(3);
  expect([...second]).toEqual([...first]);
  const installed = new Map([...readBuild(WEB_DIST)].map(([p, b]) => [p, hashAsset(b)]));
  expect([...installed]).toEqual([...first]);
});
