// Legal hold end to end, with the real commands: `sealpost admin archive create`, the archive service
// (`sealpost archive`, its own process with its own encrypted store), `sealpost admin hold add|list|release`, `send`
// and `conversations` on the members' profiles, and `sealpost archive export`. A hold on bob brings the archive into
// alice's chat with bob and into the mail thread of alice, bob and carol — by the members' own commits, on every
// member's device marked archived — and not into alice's chat with carol. What is sent after the hold is in the
// export; what was sent before, or after the release, is not. The audit log and the key-transparency log show it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isArchiveAccount, type ConversationId } from '@sealpost/protocol';
import { startTestServer, tempDir, type TestClient, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;
let alice: TestClient;
let bob: TestClient;
let carol: TestClient;
let archive: ChildProcess | undefined;
const archiveLines: Record<string, unknown>[] = [];
const data = () => tempDir('archive');
let archiveDir: string;

function sealpost(args: string[], opts: { admin?: boolean; env?: Record<string, string> } = {}): Promise<{ code: number; stderr: string; lines: Record<string, unknown>[] }> {
  const admin = opts.admin === false ? [] : ['--server', server.url, '--token', server.adminToken];
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args, ...admin, '--json'], { timeout: 90_000, env: { ...process.env, ...opts.env } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stderr, lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) });
    });
  });
}

/** Wait (bounded) until the archive process has printed a line that matches. */
async function archiveSaid(match: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i++) {
    const hit = archiveLines.find(match);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the archive never said ${what}; it said: ${JSON.stringify(archiveLines)}`);
}

const PASS = { SEALPOST_PASSPHRASE: 'archive passphrase for the test' };
const chatOf = (c: TestClient, users: string[]) =>
  c.client.conversations().find((x) => x.kind === 'chat' && x.members.filter((m) => !isArchiveAccount(m)).sort().join(',') === users.sort().join(','))!;

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.enroll('alice');
  bob = await server.enroll('bob');
  carol = await server.enroll('carol');
  archiveDir = data();
}, 60_000);

afterAll(async () => {
  archive?.kill('SIGKILL');
  await server?.close();
});

it('a hold on bob brings the archive into his conversations and only those; the export holds what was sent while he was held', async () => {
  // Before any hold: a chat alice–bob, a mail thread alice → bob, carol, and a chat alice–carol.
  const ab = (await alice.client.send({ to: ['bob'] }, 'before the hold')).conversation;
  const thread = (await alice.client.sendMail({ to: ['bob', 'carol'], subject: 'Quarterly numbers', text: 'before the hold, by mail' })).thread;
  const ac = (await alice.client.send({ to: ['carol'] }, 'alice and carol, never archived')).conversation;
  for (const c of [bob, carol]) await c.client.sync();

  // No archive service yet: a hold would record nothing, and is refused.
  expect((await sealpost(['admin', 'hold', 'add', 'bob', '--reason', 'x'])).stderr).toContain('ARCHIVE_NOT_READY');
  // The archive account's name is only for the archive.
  expect((await sealpost(['admin', 'user', 'add', 'sealpost-archive'])).stderr).toContain('INVALID_INPUT');
  const created = await sealpost(['admin', 'archive', 'create']);
  expect(created.code, created.stderr).toBe(0);
  expect(created.lines[0]).toMatchObject({ user: 'sealpost-archive@localhost', activationCode: expect.any(String) });

  // The archive service, in its own process, enrolls with the code and stays connected.
  archive = spawn(process.execPath, [bin, 'archive', '--server', server.url, '--data', archiveDir, '--code', created.lines[0]!.activationCode as string, '--json'], {
    env: { ...process.env, ...PASS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  archive.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const l of lines) if (l.startsWith('{')) archiveLines.push(JSON.parse(l) as Record<string, unknown>);
  });
  let archiveErr = '';
  archive.stderr!.on('data', (d: Buffer) => (archiveErr += d.toString()));
  await archiveSaid((l) => l.status === 'online', `that it is online (stderr: ${archiveErr})`);

  // The hold: signed, published, and announced to the members of bob's conversations.
  const add = await sealpost(['admin', 'hold', 'add', 'bob', '--reason', 'case 2026-17: litigation hold', '--until', '2030-01-01']);
  expect(add.code, add.stderr).toBe(0);
  expect(add.lines[0]).toMatchObject({ user: 'bob@localhost', reason: 'case 2026-17: litigation hold', until: '2030-01-01T00:00:00.000Z', releasedAt: null });
  // A contact sees it, checked against the log and the organisation key; bob's own device is told, not alarmed.
  expect((await alice.client.verifyUser('bob@localhost')).hold).toMatchObject({ reason: 'case 2026-17: litigation hold', active: true });
  expect((await bob.client.monitorSelf()).problems).toEqual([]);
  expect(bob.warnings.join('\n')).toMatch(/your organisation placed a legal hold on your account .*"case 2026-17: litigation hold"/);
  expect((await sealpost(['admin', 'hold', 'list'])).lines).toEqual([expect.objectContaining({ user: 'bob@localhost', active: true })]);
  // Bad input: a second hold, an unknown user, releasing a user not held, a date that is no date or has passed.
  expect((await sealpost(['admin', 'hold', 'add', 'bob', '--reason', 'again'])).stderr).toContain('HOLD_EXISTS');
  expect((await sealpost(['admin', 'hold', 'add', 'nobody', '--reason', 'x'])).stderr).toContain('USER_NOT_FOUND');
  expect((await sealpost(['admin', 'hold', 'release', 'alice'])).stderr).toContain('HOLD_NOT_FOUND');
  expect((await sealpost(['admin', 'hold', 'add', 'alice', '--reason', 'x', '--until', 'someday'])).stderr).toContain('INVALID_INPUT');
  expect((await sealpost(['admin', 'hold', 'add', 'alice', '--reason', 'x', '--until', '2001-01-01'])).stderr).toContain('INVALID_INPUT');

  // Members' devices act on the notice: the archive is added by an ordinary commit (whoever is first).
  for (const c of [alice, bob, carol, alice, bob, carol]) await c.client.sync();
  for (const c of [alice, bob]) {
    const chat = c.client.conversations().find((x) => x.id === ab)!;
    expect(chat.members).toContain('sealpost-archive@localhost');
    expect(chat.archived).toMatchObject({ holds: [{ user: 'bob@localhost', reason: 'case 2026-17: litigation hold' }], acknowledged: false });
  }
  for (const c of [alice, bob, carol]) {
    expect(c.client.conversations().find((x) => x.id === thread)!.archived?.holds.map((h) => h.user)).toEqual(['bob@localhost']);
  }
  for (const c of [alice, carol]) {
    const other = c.client.conversations().find((x) => x.id === ac)!;
    expect(other.members).not.toContain('sealpost-archive@localhost');
    expect(other.archived).toBeUndefined();
  }
  expect(chatOf(alice, ['alice@localhost', 'bob@localhost']).id).toBe(ab);

  // The CLI shows it (conversations --json) and asks once before sending where it records.
  const listed = await sealpost(['conversations', '--profile', alice.profile], { admin: false });
  expect(listed.lines.find((l) => l.id === ab)).toMatchObject({ archived: { holds: [{ user: 'bob@localhost' }], since: expect.any(String), acknowledged: false } });
  expect(listed.lines.find((l) => l.id === ac)!.archived).toBeUndefined();
  const unasked = await sealpost(['send', '--profile', alice.profile, '--conversation', ab, 'after the hold, not acknowledged'], { admin: false });
  expect(unasked.stderr).toContain('ARCHIVE_NOT_ACKNOWLEDGED');
  const chart = join(tempDir('files'), 'chart.csv');
  writeFileSync(chart, 'quarter,revenue\nQ4,17\n');
  const sent = await sealpost(['send', '--profile', alice.profile, '--conversation', ab, '--ack-archived', '--file', chart, 'after the hold, chat'], { admin: false });
  expect(sent.code, sent.stderr).toBe(0);
  // Once acknowledged, later sends go without asking.
  const again = await sealpost(['send', '--profile', alice.profile, '--to', 'bob', 'after the hold, second'], { admin: false });
  expect(again.code, again.stderr).toBe(0);
  // The SDK says the same to carol, who has not acknowledged; she confirms and replies to all in the thread.
  await carol.client.sync();
  const mailId = carol.client.mailList('inbox').find((m) => m.subject === 'Quarterly numbers')!.id;
  await expect(carol.client.replyMail(mailId, { all: true, text: 'after the hold, by mail' })).rejects.toMatchObject({ code: 'ARCHIVE_NOT_ACKNOWLEDGED' });
  const open = carol.client.conversations().find((x) => x.id === thread)!.archived!;
  carol.client.acknowledgeArchived(open.holds.map((h) => h.id));
  const minutes = join(tempDir('files'), 'minutes.txt');
  writeFileSync(minutes, 'From the minutes: the numbers are final.\n');
  const reply = await carol.client.replyMail(mailId, { all: true, text: 'after the hold, by mail', attach: [minutes] });
  expect(reply.thread).toBe(thread);
  // alice and carol talk without bob: not archived, nothing to acknowledge.
  await carol.client.send({ conversation: ac as ConversationId }, 'still just the two of us');

  await archiveSaid((l) => l.event === 'stored' && l.kind === 'mail', 'that it stored the reply');
  await archiveSaid((l) => l.event === 'stored' && l.kind === 'chat' && archiveLines.filter((x) => x.event === 'stored' && x.kind === 'chat').length >= 2, 'that it stored both chats');

  // Release: published and announced; the members' devices remove the archive; what follows is not archived.
  const release = await sealpost(['admin', 'hold', 'release', 'bob']);
  expect(release.code, release.stderr).toBe(0);
  for (const c of [alice, bob, carol, alice, bob, carol]) await c.client.sync();
  for (const c of [alice, bob]) {
    const chat = c.client.conversations().find((x) => x.id === ab)!;
    expect(chat.members).not.toContain('sealpost-archive@localhost');
    expect(chat.archived).toBeUndefined();
  }
  await alice.client.send({ conversation: ab as ConversationId }, 'after the release');
  await bob.client.sync();
  expect(bob.client.messages(ab as ConversationId).map((m) => m.text)).toContain('after the release');
  await new Promise((r) => setTimeout(r, 500));
  archive.kill('SIGTERM');
  await new Promise((r) => archive!.once('exit', r));
  archive = undefined;

  // The export: what was sent while bob was held — and nothing from before or after.
  const outDir = join(tempDir('export'), 'bob');
  const exp = await sealpost(['archive', 'export', '--data', archiveDir, '--user', 'bob', '--out', outDir], { admin: false, env: PASS });
  expect(exp.code, exp.stderr).toBe(0);
  expect(exp.lines[0]).toMatchObject({ user: 'bob@localhost', chats: 2, mails: 1 });
  const chats = readFileSync(join(outDir, 'chat.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; from: string });
  expect(chats.map((c) => c.text)).toEqual(['after the hold, chat', 'after the hold, second']);
  const mbox = readFileSync(join(outDir, 'mail.mbox'), 'utf8');
  expect(mbox).toMatch(/^From carol@localhost /);
  expect(mbox).toContain('after the hold, by mail');
  expect(mbox).toContain('Subject: Re: Quarterly numbers');
  // The mail's attachment is in the mbox (base64, as mail carries it); the chat's file is beside the JSON lines.
  expect(mbox).toMatch(/Content-Disposition: attachment; filename=minutes\.txt/);
  expect(mbox.replace(/\n/g, '')).toContain(Buffer.from('From the minutes: the numbers are final.\n').toString('base64'));
  const chatFile = (chats[0] as unknown as { attachments: { file: string; name: string }[] }).attachments[0]!;
  expect(chatFile.name).toBe('chart.csv');
  expect(readFileSync(join(outDir, chatFile.file), 'utf8')).toBe('quarter,revenue\nQ4,17\n');
  for (const absent of ['before the hold', 'after the release', 'not acknowledged', 'just the two of us']) expect(chats.map((c) => c.text).join() + mbox).not.toContain(absent);
  const manifest = JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[]; chats: number; mails: number };
  for (const f of manifest.files) expect(createHash('sha256').update(readFileSync(join(outDir, f.path))).digest('hex')).toBe(f.sha256);

  // Bad input to the export: a user never held, an unknown user.
  expect((await sealpost(['archive', 'export', '--data', archiveDir, '--user', 'carol', '--out', join(tempDir('export'), 'c')], { admin: false, env: PASS })).stderr).toContain('HOLD_NOT_FOUND');

  // The audit log: the archive created, the hold and its release, the export (who, which user — no content).
  const audit = await sealpost(['admin', 'audit']);
  const actions = audit.lines.map((l) => [l.action, l.target]);
  expect(actions).toEqual(
    expect.arrayContaining([
      ['archive.create', 'sealpost-archive@localhost'],
      ['hold.add', 'bob@localhost'],
      ['hold.release', 'bob@localhost'],
      ['archive.export', 'bob@localhost'],
    ]),
  );
  expect(JSON.stringify(audit.lines)).not.toContain('after the hold');
  // The key-transparency log: a contact sees the hold ended, checked against the log.
  expect((await alice.client.verifyUser('bob@localhost')).hold).toMatchObject({ active: false, releasedAt: expect.any(String) });
  // The archive's own log holds together and records the export.
  const log = readFileSync(join(archiveDir, 'archive.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
  expect(log.map((e) => e.event)).toEqual(['enrolled', 'stored', 'stored', 'stored', 'exported']);
}, 240_000);
