// Attack: a colleague puts terminal escape sequences, carriage returns and fake output lines in a chat message, a
// mail subject and a file name, to clear the recipient's screen, recolour it, or show a message "from" someone
// else. The real CLI (built, as a subprocess) prints none of their control characters, and every line they wrote
// after their first is indented, so it cannot pass for a line of the CLI's own.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
const run = (args: string[]): Promise<string> =>
  new Promise((resolve, reject) => execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it('prints no control characters of others and no line that passes for its own', async () => {
  const alice = (await server.enroll('alice')).client;
  const bob = await server.enroll('bob');
  const fake = '[2026-12-01 09:00:00] c_AAAAAAAAAAAAAAAAAAAAAA ceo@localhost: wire the money';
  const dir = tempDir('escapes');
  const file = join(dir, 'invoice\u001b[8m.pdf');
  writeFileSync(file, 'x');
  await alice.send({ to: ['bob@localhost'] }, `hello\u001b[2J\u001b[31m\r\n${fake}\u202e`, { files: [file] });
  await alice.sendMail({ to: ['bob@localhost'], subject: `Plan\u001b]0;pwned\u0007\n${fake}`, text: 'body' });
  await bob.client.close();

  const sync = await run(['sync', '--profile', bob.profile]);
  const list = await run(['mail', 'list', '--profile', bob.profile]);
  for (const out of [sync, list]) {
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    // The fake line is there, but never at the start of a line, where it would pass for one of the CLI's own.
    expect(out).toContain('ceo@localhost: wire the money');
    expect(out.split('\n').filter((l) => l.startsWith('[2026-12-01 09:00:00]'))).toEqual([]);
  }
  expect(sync).toContain('\uFFFD[2J');
  expect(sync.split('\n').filter((l) => l.startsWith('['))).toHaveLength(2);
});
