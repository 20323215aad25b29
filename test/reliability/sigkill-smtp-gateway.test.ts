// SIGKILL of the server between the end of a message's DATA and the gateway's 250, at several moments: a sender that
// saw no 250 sends again (as every MTA does), and the user gets every message exactly once — never lost, never twice.
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { HttpApi, SealpostClient } from '@sealpost/client';
import { tempDir } from '../helpers.js';
import { smtpTalk } from '../mail-peers.js';
import { exited, startNode, type NodeProcess } from './nodes.js';

const dir = tempDir('sigkill-smtp');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const message = (i: number) => `From: x@outside.example\r\nTo: alice@localhost\r\nSubject: crash ${i}\r\nMessage-ID: <crash-${i}@outside.example>\r\n\r\n${'body line\r\n'.repeat(200 * (i + 1))}`;

/** Sends one message and kills the server `killAfterMs` after the final dot; says whether the 250 came first. */
function sendAndKill(port: number, i: number, node: NodeProcess, killAfterMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    let step = 0;
    let got250 = false;
    const script = ['EHLO tester.example', 'MAIL FROM:<x@outside.example>', 'RCPT TO:<alice@localhost>', 'DATA'];
    sock.on('data', (d) => {
      buf += d.toString();
      while (/^\d{3} [^\n]*\n/m.test(buf)) {
        const m = /^(\d{3}) [^\n]*\n/m.exec(buf)!;
        buf = buf.slice(m.index + m[0].length);
        if (step < script.length) sock.write(`${script[step++]}\r\n`);
        else if (step === script.length) {
          step++;
          sock.write(`${message(i)}\r\n.\r\n`);
          setTimeout(() => node.child.kill('SIGKILL'), killAfterMs);
        } else if (m[1] === '250') got250 = true;
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => resolve(got250));
  });
}

it('loses nothing and shows nothing twice when the server dies between DATA and 250', async () => {
  const dataDir = join(dir, 'data');
  const [http, smtp] = [await freePort(), await freePort()];
  const args = ['--data', dataDir, '--listen', `127.0.0.1:${http}`, '--smtp-listen', `127.0.0.1:${smtp}`];
  let node = await startNode(args);
  const admin = new HttpApi(node.url);
  const r = await admin.request<{ user: string; activationCode: string }>('POST', '/v1/admin/users', { user: 'alice' }, { admin: node.token! });
  const alice = await SealpostClient.enroll({ server: node.url, user: r.user, code: r.activationCode, profile: join(dir, 'alice') });
  const delays = [0, 1, 2, 4, 8, 15, 30];
  let retried = 0;
  for (const [i, delay] of delays.entries()) {
    const saw250 = await sendAndKill(smtp, i, node, delay);
    await exited(node.child);
    node = await startNode(args);
    if (!saw250) {
      retried++;
      const replies = await smtpTalk(smtp, ['EHLO tester.example', 'MAIL FROM:<x@outside.example>', 'RCPT TO:<alice@localhost>', 'DATA', { data: Buffer.from(`${message(i)}\r\n.\r\n`) }, 'QUIT']);
      expect(replies.at(-2)).toMatch(/^250/);
    }
  }
  await alice.sync();
  const subjects = alice.mailList('inbox').map((m) => m.subject).sort();
  expect(subjects).toEqual(delays.map((_, i) => `crash ${i}`).sort());
  console.log(`sigkill-smtp: ${delays.length} kills, ${retried} retried by the sender, each mail shown once`);
  await alice.close();
  node.child.kill('SIGTERM');
  await exited(node.child);
}, 180_000);
