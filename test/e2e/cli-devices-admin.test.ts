// The built `sealpost` command for devices and administration, as subprocesses against a real server: link a
// second device with a code and approve it from the first, list and revoke; admin policy, audit --verify (and a
// tampered log), lookup, device wipe, admin tokens; a passphrase-protected profile.
import Database from 'better-sqlite3';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;
let dir = '';
let env: Record<string, string> = {};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  lines: Record<string, unknown>[];
}

function sealpost(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env, ...extra }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr, lines });
    });
  });
}

async function enroll(name: string, extra: Record<string, string> = {}, flags: string[] = []): Promise<string> {
  const add = await sealpost(['admin', 'user', 'add', name, '--json']);
  expect(add.code, add.stderr).toBe(0);
  const profile = join(dir, name);
  const res = await sealpost(['enroll', '--user', `${name}@localhost`, '--code', add.lines[0]!.activationCode as string, '--profile', profile, ...flags], extra);
  expect(res.code, res.stderr).toBe(0);
  return profile;
}

beforeAll(async () => {
  server = await startTestServer();
  dir = tempDir('cli-admin');
  env = { SEALPOST_SERVER: server.url, SEALPOST_ADMIN_TOKEN: server.adminToken };
});
afterAll(async () => {
  await server.close();
});

describe('sealpost devices', () => {
  it('links a second device by code, approves it with the fingerprint, lists and revokes it', async () => {
    const ana = await enroll('ana');
    const ben = await enroll('ben');
    expect((await sealpost(['send', '--profile', ana, '--to', 'ben@localhost', 'hello ben'])).code).toBe(0);
    const phone = join(dir, 'ana-phone');
    const link = spawn(process.execPath, [bin, 'devices', 'link', '--user', 'ana@localhost', '--profile', phone, '--device-name', 'phone', '--json'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Record<string, unknown>[] = [];
    let stderr = '';
    link.stderr!.on('data', (d) => (stderr += String(d)));
    const rl = createInterface({ input: link.stdout! });
    const waiting = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no link code: ${stderr}`)), 30_000);
      rl.on('line', (l) => {
        const msg = JSON.parse(l) as Record<string, unknown>;
        lines.push(msg);
        if (msg.status === 'waiting') {
          clearTimeout(timer);
          resolve(msg);
        }
      });
    });
    const exited = new Promise<number>((resolve) => link.once('exit', (c) => resolve(c ?? 1)));
    const code = await waiting;
    expect(code.code).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    expect(code.fingerprint).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(code.qr).toMatch(/^sealpost-link:v1\?/);

    // Without the fingerprint (and no terminal to ask on), approval is refused.
    const blind = await sealpost(['devices', 'approve', code.code as string, '--profile', ana, '--json']);
    expect(blind.code).not.toBe(0);
    // With the QR payload, the fingerprint is checked automatically.
    const approve = await sealpost(['devices', 'approve', code.qr as string, '--profile', ana, '--history', '5', '--json']);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.lines[0]).toMatchObject({ conversations: 1, fingerprint: code.fingerprint });
    expect(await exited, stderr).toBe(0);
    expect(lines.at(-1)).toMatchObject({ status: 'linked', user: 'ana@localhost', conversations: 1 });

    const list = await sealpost(['devices', 'list', '--profile', ana, '--json']);
    expect(list.lines.map((l) => [l.name, l.status, l.signed])).toEqual([
      [null, 'active', true],
      ['phone', 'active', true],
    ]);
    expect((await sealpost(['send', '--profile', ben, '--to', 'ana@localhost', 'to both'])).code).toBe(0);
    const onPhone = await sealpost(['sync', '--profile', phone, '--json']);
    expect(onPhone.lines.map((l) => l.text)).toEqual(['to both']);

    const phoneId = list.lines[1]!.id as string;
    const revoke = await sealpost(['devices', 'revoke', phoneId, '--profile', ana, '--json']);
    expect(revoke.code, revoke.stderr).toBe(0);
    const after = await sealpost(['sync', '--profile', phone, '--json']);
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain('"code":"DEVICE_REVOKED"');
  });
});

describe('sealpost admin', () => {
  it('sets policy, wipes a device, looks a user up, manages tokens, and verifies the audit log', async () => {
    const cleo = await enroll('cleo');
    const dan = await enroll('dan');
    expect((await sealpost(['send', '--profile', cleo, '--to', 'dan@localhost', 'LOOKUP-SECRET'])).code).toBe(0);

    const set = await sealpost(['admin', 'policy', 'set', 'retention-default', '30d', '--json']);
    expect(set.code, set.stderr).toBe(0);
    const bad = await sealpost(['admin', 'policy', 'set', 'retention-max', '7d', '--json']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"code":"POLICY_INVALID"');
    const unknown = await sealpost(['admin', 'policy', 'set', 'colour', 'blue']);
    expect(unknown.stderr).toContain('unknown setting');
    const get = await sealpost(['admin', 'policy', 'get', '--json']);
    expect(get.lines[0]!.settings).toMatchObject({ 'retention-default': '30d', 'retention-max': 'off', 'max-devices': '10' });

    const lookup = await sealpost(['admin', 'lookup', 'dan@localhost', '--json']);
    expect(lookup.code, lookup.stderr).toBe(0);
    expect(lookup.stdout).not.toContain('LOOKUP-SECRET');
    expect(lookup.lines[0]).toMatchObject({ user: 'dan@localhost', conversationCount: 1 });

    const devices = await sealpost(['admin', 'device', 'list', 'dan@localhost', '--json']);
    const danDevice = devices.lines[0]!.id as string;
    expect((await sealpost(['admin', 'device', 'wipe', 'dan@localhost', danDevice, '--json'])).code).toBe(0);
    const wiped = await sealpost(['sync', '--profile', dan, '--json']);
    expect(wiped.stderr).toContain('"code":"DEVICE_WIPED"');
    expect(existsSync(join(dan, 'profile.db'))).toBe(false);

    const token = await sealpost(['admin', 'token', 'create', 'auditor', '--scope', 'users,audit', '--json']);
    expect(token.code, token.stderr).toBe(0);
    const asAuditor = await sealpost(['admin', 'user', 'list', '--json'], { SEALPOST_ADMIN_TOKEN: token.lines[0]!.token as string });
    expect(asAuditor.code).toBe(0);
    expect((await sealpost(['admin', 'token', 'revoke', 'auditor'])).code).toBe(0);
    const refused = await sealpost(['admin', 'user', 'list', '--json'], { SEALPOST_ADMIN_TOKEN: token.lines[0]!.token as string });
    expect(refused.stderr).toContain('"code":"ADMIN_TOKEN_INVALID"');

    const audit = await sealpost(['admin', 'audit', '--json']);
    expect(audit.lines.map((l) => l.action)).toEqual(expect.arrayContaining(['policy.set', 'user.lookup', 'device.wipe', 'device.wipe-confirmed', 'admin-token.create']));
    expect(audit.lines.find((l) => l.action === 'user.list' && l.actor === 'auditor')).toBeDefined();
    const verified = await sealpost(['admin', 'audit', '--verify', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    const head = verified.lines[0]!.head as string;
    expect(verified.lines[0]).toMatchObject({ verified: true });
    expect((await sealpost(['admin', 'audit', '--verify', '--head', head])).code).toBe(0);

    const db = new Database(join(server.dataDir, 'sealpost.db'));
    db.prepare("UPDATE audit_log SET details = '{}' WHERE action = 'policy.set'").run();
    db.close();
    const tampered = await sealpost(['admin', 'audit', '--verify', '--json']);
    expect(tampered.code).not.toBe(0);
    expect(tampered.stderr).toMatch(/"code":"AUDIT_LOG_TAMPERED".*hash-mismatch/);
  });

  it('keeps a passphrase-protected profile closed to anyone without the passphrase', async () => {
    const eve = await enroll('eve', { SEALPOST_PASSPHRASE: 'open sesame' }, ['--passphrase']);
    const noPass = await sealpost(['sync', '--profile', eve, '--json']);
    expect(noPass.stderr).toContain('"code":"PASSPHRASE_REQUIRED"');
    const wrong = await sealpost(['sync', '--profile', eve, '--json'], { SEALPOST_PASSPHRASE: 'guess' });
    expect(wrong.stderr).toContain('"code":"PASSPHRASE_WRONG"');
    const right = await sealpost(['sync', '--profile', eve, '--json'], { SEALPOST_PASSPHRASE: 'open sesame' });
    expect(right.code, right.stderr).toBe(0);
    const change = await sealpost(['profile', 'passphrase', '--profile', eve, '--json'], { SEALPOST_PASSPHRASE: 'open sesame', SEALPOST_NEW_PASSPHRASE: 'new words' });
    expect(change.code, change.stderr).toBe(0);
    expect((await sealpost(['sync', '--profile', eve], { SEALPOST_PASSPHRASE: 'open sesame' })).stderr).toContain('PASSPHRASE_WRONG');
    expect((await sealpost(['sync', '--profile', eve], { SEALPOST_PASSPHRASE: 'new words' })).code).toBe(0);
  });
});

describe('sealpost verify and sealpost auditor', () => {
  it('prints the same safety number on both sides, checks the own account, and audits the log', async () => {
    const gus = await enroll('gus');
    const hal = await enroll('hal');
    expect((await sealpost(['send', '--profile', gus, '--to', 'hal@localhost', 'hi'])).code).toBe(0);
    const a = await sealpost(['verify', 'hal@localhost', '--profile', gus, '--json']);
    const b = await sealpost(['verify', 'gus@localhost', '--profile', hal, '--json']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.lines[0]!.safetyNumber).toBe(b.lines[0]!.safetyNumber);
    expect(a.lines[0]).toMatchObject({ kt: { verified: true, version: 1 }, confirmed: false });
    const confirmed = await sealpost(['verify', 'hal@localhost', '--profile', gus, '--confirm', a.lines[0]!.safetyNumber as string, '--json']);
    expect(confirmed.lines[0]).toMatchObject({ confirmed: true, changedSinceConfirmed: false });
    // A number of the wrong shape is a typo, said as one; 60 digits that differ are the warning about the contact.
    const typo = await sealpost(['verify', 'hal@localhost', '--profile', gus, '--confirm', '12345', '--json']);
    expect(typo.stderr).toContain('"code":"INVALID_INPUT"');
    expect(typo.stderr).toContain('a safety number is 60 digits');
    const wrong = await sealpost(['verify', 'hal@localhost', '--profile', gus, '--confirm', '1'.repeat(60), '--json']);
    expect(wrong.stderr).toContain('"code":"SAFETY_NUMBER_MISMATCH"');
    const self = await sealpost(['verify', '--self', '--profile', gus, '--json']);
    expect(self.code, self.stderr).toBe(0);
    expect(self.lines[0]).toMatchObject({ ok: true, alarm: false });

    const audit = await sealpost(['auditor', '--data', join(dir, 'auditor'), '--once', '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.lines[0]).toMatchObject({ ok: true });
    expect(audit.lines[0]!.epochs as number).toBeGreaterThan(0);
  });

  it("holds a message for a contact whose key an admin reset, says so in plain output, and sends it once the new number is compared", async () => {
    const ivy = await enroll('ivy');
    const jon = await enroll('jon');
    expect((await sealpost(['send', '--profile', ivy, '--to', 'jon@localhost', 'hi'])).code).toBe(0);
    const reset = await sealpost(['admin', 'user', 'reset', 'jon', '--json']);
    expect(reset.code, reset.stderr).toBe(0);
    const jon2 = join(dir, 'jon-new');
    const again = await sealpost(['enroll', '--user', 'jon@localhost', '--code', reset.lines[0]!.activationCode as string, '--profile', jon2]);
    expect(again.code, again.stderr).toBe(0);

    const held = await sealpost(['send', '--profile', ivy, '--to', 'jon@localhost', 'are you back?']);
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toMatch(/HELD \S+ in the outbox, not sent yet: jon@localhost's account key changed \(an admin reset: the key-transparency log retires the old key at version \d+\)/);
    expect(held.stdout).toMatch(/NOTE: 1 message\(s\) wait in the outbox because the account key of jon@localhost changed/);
    const outbox = await sealpost(['outbox', '--profile', ivy, '--json']);
    expect(outbox.lines).toEqual([expect.objectContaining({ kind: 'chat', to: ['jon@localhost'], waitingFor: ['jon@localhost'] })]);
    const shown = await sealpost(['verify', 'jon@localhost', '--profile', ivy]);
    expect(shown.stdout).toContain('NEW ACCOUNT KEY, NOT USED YET');
    const number = (await sealpost(['verify', 'jon@localhost', '--profile', ivy, '--json'])).lines[0]!;
    expect(number.keyChange).toMatchObject({ status: 'pending' });
    expect(await sealpost(['sync', '--profile', jon2, '--json'])).toMatchObject({ code: 0, lines: [] });

    const confirmed = await sealpost(['verify', 'jon@localhost', '--profile', ivy, '--confirm', number.safetyNumber as string]);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect((await sealpost(['outbox', '--profile', ivy])).stdout).toContain('nothing held');
    const got = await sealpost(['sync', '--profile', jon2, '--json']);
    expect(got.lines.map((l) => l.text)).toEqual(['are you back?']);
  });
});
