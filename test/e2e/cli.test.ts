// The built `sealpost` command, driven as a subprocess exactly as a user or a script would: a real server started
// by `sealpost server`, users added by `sealpost admin`, devices enrolled, messages sent and received.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
const dir = tempDir('cli');
let server: ChildProcess;
let url = '';
let adminToken = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  lines: Record<string, unknown>[];
}

function sealpost(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr, lines });
    });
  });
}

beforeAll(async () => {
  if (!existsSync(join(dir, '..'))) throw new Error('no temp dir');
  server = spawn(process.execPath, [bin, 'server', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--json', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: server.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 20_000);
    rl.on('line', (line) => {
      const msg = JSON.parse(line) as { adminToken?: string; listening?: string };
      if (msg.adminToken) adminToken = msg.adminToken;
      if (msg.listening) {
        url = msg.listening;
        clearTimeout(timer);
        resolve();
      }
    });
  });
});

afterAll(async () => {
  server?.kill('SIGTERM');
  await new Promise((r) => server?.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

describe('the sealpost CLI', () => {
  it('runs the two-minute tour: add users, enroll, send, sync, list', async () => {
    expect(statSync(join(dir, 'data', 'admin-token')).mode & 0o777).toBe(0o600);
    const env = { SEALPOST_SERVER: url, SEALPOST_ADMIN_TOKEN: adminToken };
    const codes: Record<string, string> = {};
    for (const name of ['alice', 'bob']) {
      const add = await sealpost(['admin', 'user', 'add', name, '--json'], env);
      expect(add.code).toBe(0);
      expect(add.lines[0]).toMatchObject({ user: `${name}@localhost`, activationCode: expect.any(String) });
      codes[name] = add.lines[0]!.activationCode as string;
      const enroll = await sealpost(['enroll', '--user', `${name}@localhost`, '--code', codes[name]!, '--profile', join(dir, name), '--device-name', 'laptop', '--json'], env);
      expect(enroll.code, enroll.stderr).toBe(0);
      expect(enroll.lines[0]).toMatchObject({ user: `${name}@localhost`, device: expect.stringMatching(/^dev_/) });
    }
    const list = await sealpost(['admin', 'user', 'list', '--json'], env);
    expect(list.lines.map((l) => [l.user, l.devices])).toEqual([['alice@localhost', 1], ['bob@localhost', 1]]);

    const t0 = performance.now();
    const sent = await sealpost(['send', '--profile', join(dir, 'alice'), '--to', 'bob@localhost', 'hello from the CLI', '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.lines[0]).toEqual({ conversation: expect.stringMatching(/^c_/), id: expect.any(String) });
    const synced = await sealpost(['sync', '--json'], { SEALPOST_PROFILE: join(dir, 'bob') });
    const elapsed = performance.now() - t0;
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.lines).toEqual([
      {
        type: 'message',
        conversation: sent.lines[0]!.conversation,
        id: sent.lines[0]!.id,
        from: 'alice@localhost',
        sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        text: 'hello from the CLI',
      },
    ]);
    console.log(`CLI send + sync (two processes, cold start each): ${elapsed.toFixed(0)} ms`);

    const convs = await sealpost(['conversations', '--profile', join(dir, 'bob'), '--json']);
    expect(convs.lines).toEqual([{ id: sent.lines[0]!.conversation, kind: 'chat', members: ['alice@localhost', 'bob@localhost'], suite: 'pq-hybrid' }]);
    const history = await sealpost(['messages', '--profile', join(dir, 'alice'), '--conversation', sent.lines[0]!.conversation as string, '--json']);
    expect(history.lines.map((l) => l.text)).toEqual(['hello from the CLI']);
    const human = await sealpost(['messages', '--profile', join(dir, 'bob')]);
    expect(human.stdout).toContain('alice@localhost: hello from the CLI');

    // The activation code was one-time.
    const again = await sealpost(['enroll', '--user', 'alice@localhost', '--code', codes.alice!, '--profile', join(dir, 'alice2'), '--json'], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('"code":"ACTIVATION_CODE_INVALID"');
    expect(existsSync(join(dir, 'alice2', 'profile.db'))).toBe(false);
  });

  it('watch prints messages as they arrive and stops on SIGINT', async () => {
    const env = { SEALPOST_SERVER: url, SEALPOST_ADMIN_TOKEN: adminToken };
    for (const name of ['carol', 'dan']) {
      const add = await sealpost(['admin', 'user', 'add', name, '--json'], env);
      const code = add.lines[0]!.activationCode as string;
      expect((await sealpost(['enroll', '--user', name, '--code', code, '--profile', join(dir, name)].map((a) => (a === name ? `${name}@localhost` : a)), env)).code).toBe(0);
    }
    const watcher = spawn(process.execPath, [bin, 'watch', '--profile', join(dir, 'dan'), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const got: Record<string, unknown>[] = [];
    const rl = createInterface({ input: watcher.stdout! });
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('watch printed nothing')), 20_000);
      rl.on('line', (l) => {
        got.push(JSON.parse(l) as Record<string, unknown>);
        if (got.length === 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 1000));
    const first = await sealpost(['send', '--profile', join(dir, 'carol'), '--to', 'dan@localhost', 'one', '--json']);
    await sealpost(['send', '--profile', join(dir, 'carol'), '--conversation', first.lines[0]!.conversation as string, 'two']);
    await arrived;
    watcher.kill('SIGINT');
    const code = await new Promise((r) => watcher.once('exit', r));
    expect(code).toBe(0);
    expect(got.map((m) => [m.from, m.text])).toEqual([['carol@localhost', 'one'], ['carol@localhost', 'two']]);
  });

  it('fails with a non-zero exit, one line on stderr, and a JSON error with --json', async () => {
    const missing = await sealpost(['sync', '--json'], { SEALPOST_PROFILE: '' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    // With --json the error is said once, as JSON (it was said twice: a human line, then the JSON).
    expect(missing.stderr.trim().split('\n')).toEqual([
      JSON.stringify({ error: { code: 'INVALID_INPUT', message: '--profile is required (or set SEALPOST_PROFILE)' } }),
    ]);
    const notEnrolled = await sealpost(['sync', '--profile', join(dir, 'nobody')]);
    expect(notEnrolled.code).toBe(1);
    expect(notEnrolled.stderr).toMatch(/^error: no Sealpost profile in .* \[NOT_ENROLLED\]\n$/);
    const badToken = await sealpost(['admin', 'user', 'list', '--server', url, '--token', 'wrong', '--json']);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('"code":"ADMIN_TOKEN_INVALID"');
    const unknownOption = await sealpost(['send', '--bogus', '--json']);
    expect(unknownOption.code).toBe(1);
    expect(unknownOption.stderr).toContain('"code":"INVALID_INPUT"');
    const unreachable = await sealpost(['admin', 'user', 'list', '--server', 'http://127.0.0.1:1', '--token', 'x', '--json']);
    expect(unreachable.stderr).toContain('"code":"SERVER_UNREACHABLE"');
  });

  it('refuses plain HTTP on a non-loopback address unless told it sits behind a TLS proxy', async () => {
    const res = await sealpost(['server', '--data', join(dir, 'data2'), '--listen', '0.0.0.0:0', '--json']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('"code":"INSECURE_LISTEN"');
  });
});

describe('sealpost server', () => {
  it('says clearly when its address is taken', async () => {
    const port = new URL(url).port;
    const res = await sealpost(['server', '--data', join(dir, 'data3'), '--listen', `127.0.0.1:${port}`, '--json']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('"code":"LISTEN_FAILED"');
    expect(res.stderr).toContain('already in use');
  });
});

describe('sealpost server with TLS', () => {
  it('serves HTTPS and WebSocket over TLS with --tls-cert/--tls-key', async () => {
    const tls = join(dir, 'tls');
    const { execFileSync } = await import('node:child_process');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(tls, { recursive: true });
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(tls, 'key.pem'), '-out', join(tls, 'cert.pem'),
    ], { stdio: 'ignore' });
    const tlsServer = spawn(process.execPath, [bin, 'server', '--data', join(dir, 'tls-data'), '--listen', '127.0.0.1:0', '--json', '--log-level', 'warn',
      '--tls-cert', join(tls, 'cert.pem'), '--tls-key', join(tls, 'key.pem')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines: { adminToken?: string; listening?: string }[] = [];
      const rl = createInterface({ input: tlsServer.stdout! });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('TLS server did not start')), 20_000);
        rl.on('line', (l) => {
          lines.push(JSON.parse(l));
          if (lines.some((x) => x.listening)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const httpsUrl = lines.find((x) => x.listening)!.listening!;
      const token = lines.find((x) => x.adminToken)!.adminToken!;
      expect(httpsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const env = { SEALPOST_SERVER: httpsUrl, SEALPOST_ADMIN_TOKEN: token, NODE_EXTRA_CA_CERTS: join(tls, 'cert.pem') };
      const codes: string[] = [];
      for (const name of ['tina', 'tom']) {
        const add = await sealpost(['admin', 'user', 'add', name, '--json'], env);
        expect(add.code, add.stderr).toBe(0);
        codes.push(add.lines[0]!.activationCode as string);
      }
      for (const [i, name] of ['tina', 'tom'].entries()) {
        const enrolled = await sealpost(['enroll', '--user', `${name}@localhost`, '--code', codes[i]!, '--profile', join(tls, name)], env);
        expect(enrolled.code, enrolled.stderr).toBe(0);
      }
      expect((await sealpost(['send', '--profile', join(tls, 'tina'), '--to', 'tom@localhost', 'over tls'], env)).code).toBe(0);
      const got = await sealpost(['sync', '--profile', join(tls, 'tom'), '--json'], env);
      expect(got.lines.map((l) => l.text)).toEqual(['over tls']);
      // Without trusting the certificate, the client refuses to talk.
      const untrusted = await sealpost(['admin', 'user', 'list', '--json'], { SEALPOST_SERVER: httpsUrl, SEALPOST_ADMIN_TOKEN: token });
      expect(untrusted.stderr).toContain('"code":"SERVER_UNREACHABLE"');
      expect(untrusted.stderr).toContain('give its certificate in NODE_EXTRA_CA_CERTS');
    } finally {
      tlsServer.kill('SIGTERM');
      await new Promise((r) => tlsServer.once('exit', r));
    }
  });
});

describe('mail and files from the CLI', () => {
  it('sends, lists, reads, replies to and forwards mail with attachments; saves files', async () => {
    const env = { SEALPOST_SERVER: url, SEALPOST_ADMIN_TOKEN: adminToken };
    const users = ['mia', 'noah', 'olga'];
    for (const name of users) {
      const add = await sealpost(['admin', 'user', 'add', name, '--json'], env);
      const code = add.lines[0]!.activationCode as string;
      expect((await sealpost(['enroll', '--user', `${name}@localhost`, '--code', code, '--profile', join(dir, name)], env)).code).toBe(0);
    }
    const { writeFileSync, readFileSync } = await import('node:fs');
    const { randomBytes } = await import('node:crypto');
    const attachment = join(dir, 'plan.pdf');
    const content = randomBytes(6 * 1024 * 1024);
    writeFileSync(attachment, content);
    writeFileSync(join(dir, 'body.txt'), 'Hello Noah,\nthe plan is attached.\n');
    writeFileSync(join(dir, 'body.html'), '<p>the plan is attached</p>');

    const sent = await sealpost([
      'mail', 'send', '--profile', join(dir, 'mia'), '--to', 'noah@localhost', '--cc', 'olga@localhost',
      '--subject', 'The plan', '--body-file', join(dir, 'body.txt'), '--html-file', join(dir, 'body.html'), '--attach', attachment, '--json',
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stderr).toBe(''); // no progress bar with --json
    expect(sent.lines).toEqual([{ id: expect.any(String), thread: expect.stringMatching(/^c_/) }]);

    const synced = await sealpost(['sync', '--profile', join(dir, 'noah'), '--json']);
    expect(synced.lines).toEqual([expect.objectContaining({ type: 'mail', id: sent.lines[0]!.id, subject: 'The plan' })]);
    const list = await sealpost(['mail', 'list', '--profile', join(dir, 'noah'), '--json']);
    expect(list.lines).toEqual([
      {
        id: sent.lines[0]!.id,
        thread: sent.lines[0]!.thread,
        from: 'mia@localhost',
        to: ['noah@localhost'],
        cc: ['olga@localhost'],
        subject: 'The plan',
        date: expect.stringMatching(/Z$/),
        unread: true,
        attachments: [{ id: expect.stringMatching(/^b_/), name: 'plan.pdf', size: content.length, type: 'application/pdf' }],
      },
    ]);
    const read = await sealpost(['mail', 'read', '--profile', join(dir, 'noah'), sent.lines[0]!.id as string, '--json']);
    expect(read.lines[0]).toMatchObject({ text: 'Hello Noah,\nthe plan is attached.\n', html: '<p>the plan is attached</p>', unread: false });
    const attId = (list.lines[0]!.attachments as { id: string }[])[0]!.id;
    const got = await sealpost(['files', 'get', '--profile', join(dir, 'noah'), attId, '--out', join(dir, 'noah-plan.pdf'), '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(join(dir, 'noah-plan.pdf')).equals(content)).toBe(true);
    expect((await sealpost(['mail', 'list', '--profile', join(dir, 'noah'), '--json'])).lines[0]!.unread).toBe(false);

    const reply = await sealpost(['mail', 'reply', '--profile', join(dir, 'noah'), sent.lines[0]!.id as string, '--all', '--body', 'Agreed.', '--json']);
    expect(reply.lines[0]!.thread).toBe(sent.lines[0]!.thread);
    const fwd = await sealpost(['mail', 'forward', '--profile', join(dir, 'olga'), sent.lines[0]!.id as string, '--to', 'mia@localhost', '--json']);
    expect(fwd.code).toBe(1); // Olga has not synced yet: she has no such mail
    expect(fwd.stderr).toContain('"code":"MAIL_NOT_FOUND"');
    await sealpost(['sync', '--profile', join(dir, 'olga')]);
    const fwd2 = await sealpost(['mail', 'forward', '--profile', join(dir, 'olga'), sent.lines[0]!.id as string, '--to', 'mia@localhost', '--body', 'FYI', '--json']);
    expect(fwd2.code, fwd2.stderr).toBe(0);
    const miaInbox = await sealpost(['sync', '--profile', join(dir, 'mia'), '--json']);
    expect(miaInbox.lines.map((l) => l.subject)).toEqual(['Re: The plan', 'Fwd: The plan']);
    const sentFolder = await sealpost(['mail', 'list', '--profile', join(dir, 'mia'), '--folder', 'sent', '--json']);
    expect(sentFolder.lines.map((l) => l.subject)).toEqual(['The plan']);

    // A file in chat lists its attachment the same way.
    const chat = await sealpost(['send', '--profile', join(dir, 'mia'), '--to', 'noah@localhost', 'see file', '--file', join(dir, 'body.txt'), '--json']);
    expect(chat.code, chat.stderr).toBe(0);
    const chatSync = await sealpost(['sync', '--profile', join(dir, 'noah'), '--json']);
    expect(chatSync.lines.find((l) => l.type === 'message')).toMatchObject({
      text: 'see file',
      attachments: [{ id: expect.stringMatching(/^b_/), name: 'body.txt', size: 34, type: 'text/plain' }],
    });

    const missing = await sealpost(['mail', 'send', '--profile', join(dir, 'mia'), '--to', 'noah@localhost', '--subject', 's', '--body', 'b', '--attach', join(dir, 'nope.pdf'), '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('"code":"FILE_NOT_FOUND"');
  });
});
