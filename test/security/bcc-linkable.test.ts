// Attack: the server (or a database thief) ties a Bcc recipient's copy of a mail to the original. Before, every
// Bcc copy named the same blob ids as the original in its send frame, so the blob grants showed who else got
// the attachment. Now each Bcc copy carries its own upload (fresh key, so other ciphertext and other ids): no blob
// is granted both to a To recipient and to a Bcc recipient.
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('a Bcc copy shares no blob with the original', async () => {
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  const carol = (await server.enroll('carol')).client;
  const file = join(tempDir('bcc'), 'plan.txt');
  writeFileSync(file, 'the plan\n'.repeat(1000));
  await alice.sendMail({ to: ['bob@localhost'], bcc: ['carol@localhost'], subject: 'Plan', text: 'attached', attach: [file] });

  const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
  const grants = db.prepare('SELECT blob, device FROM blob_grants').all() as { blob: string; device: string }[];
  db.close();
  const blobsOf = (device: string) => new Set(grants.filter((g) => g.device === device).map((g) => g.blob));
  const bobs = blobsOf(bob.device);
  const carols = blobsOf(carol.device);
  expect(bobs.size).toBe(1);
  expect(carols.size).toBe(1);
  expect([...carols].some((b) => bobs.has(b))).toBe(false);

  // Both can still open what they got.
  await bob.sync();
  await carol.sync();
  for (const [who, c] of [['bob', bob], ['carol', carol]] as const) {
    const [mail] = c.mailList('inbox');
    const out = join(tempDir(`bcc-${who}`), 'plan.txt');
    await c.saveAttachment(mail!.attachments[0]!.id, out);
  }
});
