// What a new admin and user meet in their first week with the built CLI (as subprocesses, against a real server):
// unknown commands and options answered in one coded line, output into a closed pipe ending quietly, short user
// names (`bob`) accepted wherever a user is named, and downloads refused before they start when --out cannot be
// written.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chats, startTestServer, tempDir, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;

function sealpost(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, SEALPOST_SERVER: server.url, SEALPOST_ADMIN_TOKEN: server.adminToken, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('the CLI in its first week', () => {
  it('answers an unknown command or option in one coded line and says where the help is', async () => {
    const unknown = await sealpost(['sendd', 'hello']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^error: unknown command 'sendd' \(Did you mean send\?\) \[INVALID_INPUT\]\n\(see sealpost --help, or sealpost COMMAND --help\)\n$/);
    const option = await sealpost(['send', '--bogus', '--json']);
    expect(option.code).toBe(1);
    expect(option.stderr).not.toContain('Usage:');
    expect(option.stderr).toContain('"code":"INVALID_INPUT"');
  });

  it('ends quietly when its output goes into a pipe that closed', async () => {
    const child = spawn(process.execPath, [bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader went away, as `| head -1` does after one line
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(code).toBe(0);
  });

  it('takes a short user name wherever a user is named', async () => {
    const alice = await server.enroll('alice');
    const bob = await server.enroll('bob');
    await alice.client.close();
    const sent = await sealpost(['send', '--profile', alice.profile, '--to', 'bob', 'hi bob']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(chats(await bob.client.sync()).map((m) => m.text)).toEqual(['hi bob']);
    const verified = await sealpost(['verify', 'bob', '--profile', alice.profile, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout.split('\n')[0]!)).toMatchObject({ user: 'bob@localhost' });
    const listed = await sealpost(['admin', 'device', 'list', 'bob', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
  });

  it('refuses a download into a folder, or into a folder that does not exist, before downloading', async () => {
    const carol = await server.enroll('carol');
    const dave = await server.enroll('dave');
    const dir = tempDir('first-week');
    const file = join(dir, 'report.txt');
    writeFileSync(file, 'quarterly figures');
    await carol.client.send({ to: ['dave@localhost'] }, 'the report', { files: [file] });
    const [msg] = chats(await dave.client.sync());
    const attachment = msg!.attachments![0]!.id;
    await dave.client.close();
    const folder = join(dir, 'downloads');
    mkdirSync(folder);
    const intoFolder = await sealpost(['files', 'get', attachment, '--profile', dave.profile, '--out', folder]);
    expect(intoFolder.code).toBe(1);
    expect(intoFolder.stderr).toMatch(/^error: --out .*downloads: is a folder; name a file .* \[INVALID_INPUT\]\n$/);
    const noFolder = await sealpost(['files', 'get', attachment, '--profile', dave.profile, '--out', join(dir, 'missing', 'x.txt')]);
    expect(noFolder.code).toBe(1);
    expect(noFolder.stderr).toMatch(/the folder .*missing does not exist \[INVALID_INPUT\]/);
    const ok = await sealpost(['files', 'get', attachment, '--profile', dave.profile, '--out', join(folder, 'report.txt')]);
    expect(ok.code, ok.stderr).toBe(0);
    // A file already there is not replaced silently: refused, unless --force.
    writeFileSync(join(folder, 'report.txt'), 'my own edits');
    const again = await sealpost(['files', 'get', attachment, '--profile', dave.profile, '--out', join(folder, 'report.txt')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a file is already there; give --force to replace it.*\[INVALID_INPUT\]/);
    expect(readFileSync(join(folder, 'report.txt'), 'utf8')).toBe('my own edits');
    const forced = await sealpost(['files', 'get', attachment, '--profile', dave.profile, '--out', join(folder, 'report.txt'), '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(folder, 'report.txt'), 'utf8')).toBe('quarterly figures');
  });

  it('says a message has nobody to go to instead of sending it into a chat with no device of the recipient', async () => {
    const erin = await server.enroll('erin');
    const fred = await server.enroll('fred');
    await erin.client.send({ to: ['fred@localhost'] }, 'before');
    await fred.client.sync();
    await server.adminRequest('POST', `/v1/admin/users/fred@localhost/devices/${fred.client.device}/wipe`, {});
    await erin.client.close();
    const sent = await sealpost(['send', '--profile', erin.profile, '--to', 'fred', 'anyone there?']);
    expect(sent.code).toBe(1);
    expect(sent.stderr).toMatch(/fred@localhost has no device that can receive this .* nothing was sent \[NO_KEY_PACKAGE\]/);
    const mail = await sealpost(['mail', 'send', '--profile', erin.profile, '--to', 'fred', '--subject', 'Hi', '--body', 'anyone?']);
    expect(mail.code).toBe(1);
    expect(mail.stderr).toContain('[NO_KEY_PACKAGE]');
  });

  it('four sends at once on one profile to someone new make one chat, not four', async () => {
    const gina = await server.enroll('gina');
    const hank = await server.enroll('hank');
    await gina.client.close();
    const runs = await Promise.all([1, 2, 3, 4].map((n) => sealpost(['send', '--profile', gina.profile, '--to', 'hank', `message ${n}`, '--json'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const conversations = new Set(runs.map((r) => (JSON.parse(r.stdout.split('\n')[0]!) as { conversation: string }).conversation));
    expect(conversations.size).toBe(1);
    const listed = await sealpost(['conversations', '--profile', gina.profile, '--json']);
    expect(listed.stdout.trim().split('\n').filter((l) => l.includes('hank@localhost'))).toHaveLength(1);
    const got = chats(await hank.client.sync()).map((m) => m.text).sort();
    expect(got).toEqual(['message 1', 'message 2', 'message 3', 'message 4']);
  });

  it('a failed enroll leaves no empty profile folder behind', async () => {
    await server.addUser('ivan');
    const profile = join(tempDir('failed-enroll'), 'ivan');
    const res = await sealpost(['enroll', '--user', 'ivan', '--code', 'AAAA-BBBB-CCCC', '--profile', profile]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('[ACTIVATION_CODE_INVALID]');
    expect(existsSync(profile)).toBe(false);
  });

  it('refuses a policy that promises larger files than the server takes', async () => {
    const res = await sealpost(['admin', 'policy', 'set', 'max-attachment-size', '5GiB']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/policy max-attachment-size: this server takes files up to \d+ bytes \(--max-file-size\); set it no higher \[POLICY_INVALID\]/);
  });

  it('sends a text from a file or from standard input', async () => {
    const jack = await server.enroll('jack');
    const kate = await server.enroll('kate');
    await jack.client.close();
    const file = join(tempDir('text-file'), 'note.txt');
    writeFileSync(file, 'line one\nline two\n');
    const fromFile = await sealpost(['send', '--profile', jack.profile, '--to', 'kate', '--text-file', file]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const piped = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [bin, 'send', '--profile', jack.profile, '--to', 'kate', '-'], { env: { ...process.env }, stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.end('from a pipe\n');
      child.on('exit', (code) => resolve(code));
    });
    expect(piped).toBe(0);
    expect(chats(await kate.client.sync()).map((m) => m.text)).toEqual(['line one\nline two', 'from a pipe']);
    const both = await sealpost(['send', '--profile', jack.profile, '--to', 'kate', 'text', '--text-file', file]);
    expect(both.stderr).toContain('give the text or --text-file, not both [INVALID_INPUT]');
  });

  it('says a link cancelled with Ctrl-C was cancelled, and exits 130', async () => {
    const lena = await server.enroll('lena');
    await lena.client.close();
    const profile = join(tempDir('lena-2'), 'p');
    const child = spawn(process.execPath, [bin, 'devices', 'link', '--user', 'lena', '--profile', profile, '--server', server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 200 && !stdout.includes('Waiting for approval'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stdout).toContain('Waiting for approval');
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    expect(stderr).toMatch(/^cancelled: linking was cancelled; nothing was linked/);
    expect(stderr).not.toContain('LINK_EXPIRED');
  });

  it('reissues an expired activation code without a reset, and says what to do with a used one', async () => {
    const added = await sealpost(['admin', 'user', 'add', 'mona', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const again = await sealpost(['admin', 'user', 'add', 'mona']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; for a new activation code: `sealpost admin user reissue mona@localhost`/);
    const reissued = await sealpost(['admin', 'user', 'reissue', 'mona', '--json']);
    expect(reissued.code, reissued.stderr).toBe(0);
    const { activationCode } = JSON.parse(reissued.stdout) as { activationCode: string };
    const old = (JSON.parse(added.stdout) as { activationCode: string }).activationCode;
    const dir = tempDir('mona');
    const withOld = await sealpost(['enroll', '--user', 'mona', '--code', old, '--profile', join(dir, 'a')]);
    expect(withOld.code).toBe(1);
    expect(withOld.stderr).toMatch(/ask your admin for a new one \(`sealpost admin user reissue USER`\) \[ACTIVATION_CODE_INVALID\]/);
    const enrolled = await sealpost(['enroll', '--user', 'mona', '--code', activationCode, '--profile', join(dir, 'b')]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const late = await sealpost(['admin', 'user', 'reissue', 'mona']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/has enrolled already: a new device is linked .* \[USER_EXISTS\]/);
  });

  it('says a safety number of the wrong shape is a typo, not a warning about the contact', async () => {
    const nora = await server.enroll('nora');
    await server.enroll('otto');
    await nora.client.close();
    const typo = await sealpost(['verify', 'otto', '--profile', nora.profile, '--confirm', '123']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^error: --confirm: a safety number is 60 digits \(12 groups of 5\); this has 3 characters \[INVALID_INPUT\]\n$/);
  });

  it('watch says where it is connected and that it is, and Ctrl-C ends it with 0', async () => {
    const pia = await server.enroll('pia');
    await pia.client.close();
    const child = spawn(process.execPath, [bin, 'watch', '--profile', pia.profile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SEALPOST_SERVER: server.url } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 200 && !stderr.includes('connected'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toMatch(/^watching as pia@localhost on http:\/\/127\.0\.0\.1:\d+ — messages appear as they arrive; Ctrl-C to stop\nconnected\n$/);
    child.kill('SIGINT');
    expect(await new Promise<number | null>((r) => child.on('exit', (c) => r(c)))).toBe(0);
  });

  it('names a conversation for everyone in it, and lists the name', async () => {
    const quinn = await server.enroll('quinn');
    const rita = await server.enroll('rita');
    const { conversation } = await quinn.client.send({ to: ['rita'] }, 'hello');
    await rita.client.sync();
    await quinn.client.close();
    const renamed = await sealpost(['conversation', 'rename', 'Quarterly plan', '--conversation', conversation, '--profile', quinn.profile, '--json']);
    expect(renamed.code, renamed.stderr).toBe(0);
    await rita.client.sync();
    expect(rita.client.conversations().find((c) => c.id === conversation)?.name).toBe('Quarterly plan');
    await rita.client.close();
    const listed = await sealpost(['conversations', '--profile', rita.profile]);
    expect(listed.stdout).toContain(`${conversation}\tchat\t"Quarterly plan"\t`);
    const bad = await sealpost(['conversation', 'rename', 'two\nlines', '--conversation', conversation, '--profile', quinn.profile]);
    expect(bad.stderr).toMatch(/no control characters or line breaks \[INVALID_INPUT\]/);
  });
});
