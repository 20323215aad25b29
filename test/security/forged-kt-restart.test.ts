// Attack: the server's log is rolled back (an older copy put in place), and a "restart" statement is slipped into
// the database so that devices accept the older log — signed with a key of the attacker's, not the organisation key
// every device pinned at enrollment. Devices keep refusing the rolled-back log (KT_VERIFICATION_FAILED) and say
// nothing about a restart (the organisation-signed one is accepted: test/e2e/restore.test.ts).
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { defaultCiphersuite, signKtRestart, toBase64Url } from '@sealpost/protocol';
import { backupDataFolder, startServer, type StartedServer } from '@sealpost/server';
import { SealpostClient } from '@sealpost/client';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { operatorDb } from '../operator.js';

let server: TestServer | undefined;
let restored: StartedServer | undefined;
const opened: SealpostClient[] = [];
afterEach(async () => {
  for (const c of opened) await c.close().catch(() => {});
  await restored?.close();
  await server?.close();
});

it('refuses a rolled-back log whose restart statement the organisation did not sign', async () => {
  server = await startTestServer();
  const alice = await server.enroll('alice');
  await server.enroll('bob');
  const copy = join(tempDir('rollback'), 'copy');
  await backupDataFolder(server.dataDir, copy);
  await server.enroll('carol');
  await alice.client.verifyUser('carol'); // alice's head moves past the copy's
  const port = Number(new URL(server.url).port);
  await alice.client.close();
  await server.started.close();
  await new Promise((r) => setTimeout(r, 300));

  // The attacker's statement, in the rolled-back database, before the server starts.
  const cs = await defaultCiphersuite();
  const attacker = await cs.signature.keygen();
  const d = operatorDb(copy);
  const epoch = d.prepare('SELECT epoch, log_root FROM kt_epochs ORDER BY epoch DESC LIMIT 1').get() as { epoch: number; log_root: Buffer };
  const forged = await signKtRestart(cs.signature, attacker.signKey, { v: 1, domain: 'localhost', at: Date.now(), reason: 'routine maintenance', head: { size: epoch.epoch + 1, root: new Uint8Array(epoch.log_root) } });
  d.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('kt_restarts', ?)").run(JSON.stringify([{ body: toBase64Url(forged.body), signature: toBase64Url(forged.signature) }]));
  d.close();
  restored = await startServer({ dataDir: copy, host: '127.0.0.1', port, domain: 'localhost', logLevel: 'warn', logDestination: process.stderr });

  const warnings: string[] = [];
  const a = await SealpostClient.open(alice.profile, { warn: (m) => warnings.push(m) });
  opened.push(a);
  await expect(a.verifyUser('bob')).rejects.toMatchObject({ code: 'KT_VERIFICATION_FAILED' });
  expect(warnings.join('\n')).not.toContain('restored from a backup');
});
