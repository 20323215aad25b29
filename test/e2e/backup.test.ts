// A backup taken while the server runs (sealpost admin backup, through the built CLI) is a data folder a server
// starts from, with everything in it: users, devices, queued ciphertext, files and keys. Restored in place of the
// original (same address), the clients carry on and receive what was queued, files included.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { startServer, type StartedServer } from '@sealpost/server';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer | undefined;
let restored: StartedServer | undefined;
afterEach(async () => {
  await restored?.close();
  await server?.close();
});

function sealpost(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

it('backs up a running server into a folder a server starts from, and the clients carry on', async () => {
  server = await startTestServer();
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  const dir = tempDir('backup');
  const file = join(dir, 'plan.txt');
  writeFileSync(file, 'the plan, in full');
  await alice.client.send({ to: ['bob'] }, 'queued before the backup', { files: [file] });

  const out = join(dir, 'copy');
  const backup = await sealpost(['admin', 'backup', '--data', server.dataDir, '--out', out, '--json']);
  expect(backup.code, backup.stderr).toBe(0);
  const result = JSON.parse(backup.stdout.trim().split('\n').at(-1)!) as { blobs: number; keyFiles: string[]; ktHead: { epoch: number } | null };
  expect(result.blobs).toBe(1);
  expect(result.keyFiles).toEqual(['server-secret', 'admin-token', 'metrics-token', 'server-key.pem']);
  expect(result.ktHead?.epoch).toBeGreaterThanOrEqual(0);
  expect(JSON.parse(readFileSync(join(out, 'backup.json'), 'utf8'))).toMatchObject({ version: '0.1.0', blobs: 1 });
  // A second backup into the same folder is refused rather than mixed.
  expect((await sealpost(['admin', 'backup', '--data', server.dataDir, '--out', out])).stderr).toMatch(/not empty; give a new folder \[INVALID_INPUT\]/);

  // The original is lost; the copy takes its place at the same address.
  const port = Number(new URL(server.url).port);
  await alice.client.close();
  await bob.client.close();
  await server.started.close();
  // Let this process's HTTP client notice the old server's connections closed (a restore takes minutes, not 0 ms).
  await new Promise((r) => setTimeout(r, 300));
  restored = await startServer({ dataDir: out, host: '127.0.0.1', port, domain: 'localhost', logLevel: 'warn', logDestination: process.stderr });
  expect((await fetch(`${restored.url}/readyz`)).status).toBe(200);

  const { SealpostClient } = await import('@sealpost/client');
  const bobAgain = await SealpostClient.open(bob.profile);
  try {
    const [msg] = chats(await bobAgain.sync());
    expect(msg?.text).toBe('queued before the backup');
    const saved = join(dir, 'saved.txt');
    await bobAgain.saveAttachment(msg!.attachments![0]!.id, saved);
    expect(readFileSync(saved, 'utf8')).toBe('the plan, in full');
    expect((await bobAgain.monitorSelf()).ok).toBe(true);
  } finally {
    await bobAgain.close();
  }
});
