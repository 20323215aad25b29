// The way through a restore from an older backup, end to end with three clients: alice and bob enrolled before the
// backup, carol after. Restored, the server shows a log older than the heads alice and bob verified, and they refuse
// it (as they must: a rollback attack looks the same). The admin declares a restart (sealpost admin kt restart,
// signed by the organisation key): alice and bob accept it, say so, keep every key they knew, and carry on — a
// message sent after the restore arrives (queue seqs moved past the ones they processed). Carol is told, in words,
// that the server no longer knows her device and to enroll again.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { startServer, type StartedServer } from '@sealpost/server';
import { SealpostClient } from '@sealpost/client';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer | undefined;
let restored: StartedServer | undefined;
const opened: SealpostClient[] = [];
afterEach(async () => {
  for (const c of opened) await c.close().catch(() => {});
  await restored?.close();
  await server?.close();
});

function sealpost(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

it('after a restore to an older backup, a signed restart lets the clients carry on, keeping every key they knew', async () => {
  server = await startTestServer();
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  await alice.client.send({ to: ['bob'] }, 'before the backup');
  expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['before the backup']);

  const copy = join(tempDir('restore'), 'copy');
  expect((await sealpost(['admin', 'backup', '--data', server.dataDir, '--out', copy])).code).toBe(0);

  // After the backup: carol enrolls, alice and bob verify her (their heads move past the backup's), a message goes.
  const carol = await server.enroll('carol');
  await alice.client.verifyUser('carol');
  await bob.client.verifyUser('carol');
  await alice.client.send({ to: ['bob'] }, 'lost with the restore');
  await bob.client.sync();

  // The server is restored from the backup, at the same address.
  const port = Number(new URL(server.url).port);
  for (const c of [alice.client, bob.client, carol.client]) await c.close();
  await server.started.close();
  await new Promise((r) => setTimeout(r, 300));
  restored = await startServer({ dataDir: copy, host: '127.0.0.1', port, domain: 'localhost', logLevel: 'warn', logDestination: process.stderr });

  const warnings: string[] = [];
  const open = async (profile: string) => {
    const c = await SealpostClient.open(profile, { warn: (m) => warnings.push(m) });
    opened.push(c);
    return c;
  };
  const a = await open(alice.profile);
  // Refused until the organisation says what happened: an older log is what a rollback attack shows.
  await expect(a.verifyUser('bob')).rejects.toMatchObject({ code: 'KT_VERIFICATION_FAILED', message: expect.stringContaining('stale-head') });

  const token = (await import('node:fs')).readFileSync(restored.adminTokenFile, 'utf8').trim();
  const restart = await sealpost(['admin', 'kt', 'restart', '--reason', 'restored from last night\'s backup after a disk failure', '--json'], { SEALPOST_SERVER: restored.url, SEALPOST_ADMIN_TOKEN: token });
  expect(restart.code, restart.stderr).toBe(0);

  // Alice and bob carry on: told once, the same keys as before, and a message sent now arrives.
  const verified = await a.verifyUser('bob');
  expect(verified.kt.verified).toBe(true);
  expect(warnings.join('\n')).toContain('the server was restored from a backup: "restored from last night\'s backup after a disk failure" (signed by your organisation');
  expect((await a.monitorSelf()).ok).toBe(true);
  await a.send({ to: ['bob'] }, 'after the restore');
  const b = await open(bob.profile);
  const got = chats(await b.sync()).map((m) => m.text);
  expect(got).toContain('after the restore');
  expect((await b.monitorSelf()).ok).toBe(true);
  expect(warnings.filter((w) => w.startsWith('KEY TRANSPARENCY ALARM'))).toEqual([]);

  // Carol's device was enrolled after the backup: told so, in words, not an alarm.
  const c = await open(carol.profile);
  await expect(c.sync()).rejects.toMatchObject({ code: 'NOT_ENROLLED', message: expect.stringContaining('restored from a backup made before this device was enrolled') });
});
