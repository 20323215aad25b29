// An account made under the classic policy has an X25519 mail intake key; once the organisation's policy is
// pq-hybrid, the account's device that holds the account key publishes an X-Wing intake key on its next sync (derived
// from the same intake seed, in a new account-signed device list), and the SMTP gateway seals outside mail to it from
// then on. Mail sealed to the old key before the change still opens, on that device and on a device linked earlier
// (docs/post-quantum.md).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeDeviceList, decodeSealedIntake } from '@sealpost/protocol';
import { startTestServer, type TestClient, type TestServer } from '../helpers.js';
import { fixedDns, run, until } from '../mail-peers.js';
import { operatorDb } from '../operator.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));
let server: TestServer;
let fran: TestClient;
let linked: TestClient;

const admin = (args: string[]) =>
  new Promise<number>((resolve) => {
    execFile(process.execPath, [bin, 'admin', ...args], { timeout: 60_000, env: { ...process.env, SEALPOST_SERVER: server.url, SEALPOST_ADMIN_TOKEN: server.adminToken } }, (err) =>
      resolve(err ? 1 : 0),
    );
  });
const swaks = (subject: string) =>
  run('swaks', ['--server', `127.0.0.1:${server.started.smtpPort!}`, '--silent', '1', '--to', 'fran@localhost', '--from', 'ann@outside.example', '--header', `Subject: ${subject}`, '--body', `text of ${subject}`]);

function published(): { version: number; intakeKey: number } {
  const d = operatorDb(server.dataDir);
  const row = d.prepare('SELECT body FROM device_lists WHERE user = ?').get('fran@localhost') as { body: Uint8Array };
  d.close();
  const list = decodeDeviceList(new Uint8Array(row.body));
  return { version: list.version, intakeKey: list.mail!.intakeKey.length };
}

/** The size of the encapsulation each stored outside mail for fran carries: 32 is X25519, 1,120 X-Wing. */
function sealedSizes(): number[] {
  const d = operatorDb(server.dataDir);
  const rows = d.prepare("SELECT payload FROM messages WHERE kind = 'mail-in' ORDER BY id").all() as { payload: Uint8Array }[];
  d.close();
  return rows.map((r) => decodeSealedIntake(new Uint8Array(r.payload)).enc.length);
}

async function mailOn(c: TestClient, subject: string) {
  return until(async () => {
    await c.client.sync();
    return c.client.mailList('inbox').find((m) => m.subject === subject);
  }, 15_000, `"${subject}" on ${c.client.device}`);
}

beforeAll(async () => {
  server = await startTestServer({ smtp: { host: '127.0.0.1', port: 0, maxBytes: 1024 * 1024, resolver: fixedDns({}) } });
  expect(await admin(['policy', 'set', 'conversation-suite', 'classic'])).toBe(0);
  fran = await server.enroll('fran');
  linked = await server.link(fran);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

it('an X25519 intake key becomes X-Wing when the policy turns pq-hybrid; mail sealed before and after opens on both devices', async () => {
  const before = published();
  expect(before.intakeKey).toBe(32); // made under classic: X25519

  await swaks('sealed to the old key');
  await until(async () => sealedSizes().length === 1 || undefined, 10_000, 'the first mail stored');
  expect(sealedSizes()).toEqual([32]);

  expect(await admin(['policy', 'set', 'conversation-suite', 'pq-hybrid'])).toBe(0);
  // fran's device (it holds the account key) learns the policy on sync and publishes the X-Wing key.
  await fran.client.sync();
  await fran.client.sync();
  const after = published();
  expect(after.intakeKey).toBe(1216);
  expect(after.version).toBe(before.version + 1);

  await swaks('sealed to the new key');
  await until(async () => sealedSizes().length === 2 || undefined, 10_000, 'the second mail stored');
  expect(sealedSizes()).toEqual([32, 1120]);

  // Both open on fran's device and on the device linked before the change: the same seed opens either key.
  for (const c of [fran, linked]) {
    for (const subject of ['sealed to the old key', 'sealed to the new key']) {
      const m = await mailOn(c, subject);
      expect(c.client.readMail(m.id).text).toContain(`text of ${subject}`);
    }
  }
  // Another sync publishes nothing more.
  await fran.client.sync();
  expect(published().version).toBe(after.version);
});
