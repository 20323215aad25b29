// Attack: reading the server's data folder for mail. A unique marker in the subject, the body, the HTML, a file
// name and a file's content never appears in it — database, WAL, blobs, logs.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { filesUnder, startTestServer, tempDir, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});


it('keeps subject, addresses inside the mail, bodies, file names and file content out of the server', async () => {
  const marker = `M${randomUUID().replace(/-/g, '')}`;
  const dir = tempDir('mail-marker');
  const alice = (await server.enroll('alice')).client;
  const bob = (await server.enroll('bob')).client;
  await server.enroll('carol');
  const file = join(dir, `${marker}.txt`);
  writeFileSync(file, `${marker}\n`.repeat(1000));
  await alice.sendMail({
    to: ['bob@localhost'],
    bcc: ['carol@localhost'],
    subject: `subject ${marker}`,
    text: `body ${marker}`,
    html: `<b>${marker}</b>`,
    attach: [file],
  });
  // One copy stays queued (Carol never syncs); Bob's is delivered and acknowledged.
  await bob.sync();

  const needle = Buffer.from(marker);
  const files = filesUnder(server.dataDir);
  expect(files.some((f) => f.includes(`${join('blobs', '')}`))).toBe(true);
  for (const f of files) {
    expect(f.includes(marker), `file name ${f}`).toBe(false);
    expect(readFileSync(f).includes(needle), `${f} contains the marker`).toBe(false);
  }
  expect(server.logs.join('')).not.toContain(marker);
  // Sanity: Bob's device does hold it.
  expect(bob.readMail(bob.mailList()[0]!.id).subject).toBe(`subject ${marker}`);
});
