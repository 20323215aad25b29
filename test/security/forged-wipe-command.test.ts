// Attack: someone who can write the server's database (but does not hold the organisation key) plants a wipe
// command for Bob's device — one signed by another key, or a genuine one issued for a different device. Bob's client
// checks the organisation key it pinned at enrollment and the device id, ignores both, and keeps its data.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { defaultCiphersuite, signOrgCommand, type DeviceId, type UserId } from '@sealpost/protocol';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

function plantWipe(dataDir: string, device: string, command: Uint8Array, signature: Uint8Array): void {
  const db = new Database(join(dataDir, 'sealpost.db'));
  db.prepare('INSERT OR REPLACE INTO wipes (device, command, signature, issued_at) VALUES (?, ?, ?, ?)').run(device, command, signature, Date.now());
  // The device must also look revoked for the server to hand the command over.
  db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ?').run(Date.now(), device);
  db.prepare('DELETE FROM sessions WHERE device = ?').run(device);
  db.close();
}

it('ignores a wipe command not signed by the organisation key', async () => {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  await alice.client.send({ to: ['bob@localhost'] }, 'keep me');
  await bob.client.sync();
  const cs = await defaultCiphersuite();
  const attacker = await cs.signature.keygen();
  const forged = await signOrgCommand(cs.signature, attacker.signKey, {
    kind: 'wipe',
    device: bob.client.device,
    user: 'bob@localhost' as UserId,
    issuedAt: Date.now(),
  });
  plantWipe(server.dataDir, bob.client.device, forged.body, forged.signature);

  await expect(bob.client.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });
  expect(bob.warnings.join('\n')).toMatch(/ignored a wipe command .*bad-signature/);
  expect(existsSync(join(bob.profile, 'profile.db'))).toBe(true);
  expect(bob.client.messages().map((m) => m.text)).toEqual(['keep me']);
});

it('ignores a genuine wipe command replayed against another device', async () => {
  const alice = await server.enroll('alice');
  const bob = await server.enroll('bob');
  const carol = await server.enroll('carol');
  await alice.client.send({ to: ['bob@localhost'] }, 'keep me');
  await bob.client.sync();
  // A real, organisation-signed wipe for carol's device…
  await server.adminRequest('POST', `/v1/admin/users/carol@localhost/devices/${carol.client.device}/wipe`, {});
  const db = new Database(join(server.dataDir, 'sealpost.db'), { readonly: true });
  const genuine = db.prepare('SELECT command, signature FROM wipes WHERE device = ?').get(carol.client.device) as { command: Buffer; signature: Buffer };
  db.close();
  // …copied onto bob's device.
  plantWipe(server.dataDir, bob.client.device as DeviceId, genuine.command, genuine.signature);

  await expect(bob.client.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });
  expect(bob.warnings.join('\n')).toMatch(/ignored a wipe command .*wrong-device/);
  expect(bob.client.messages().map((m) => m.text)).toEqual(['keep me']);
});
