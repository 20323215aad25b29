// Attack: a malicious operator silences the person whose key it swaps by locking their device out (before, with
// the device's row gone or its key changed, sign-in failed with AUTH_FAILED and the monitor needed a session, so
// the victim never raised KT_ALARM). Now a device the server refuses without an organisation-signed reason raises
// the alarm on every command, and checks its own label through the public monitor to say what the log shows.
// A real revocation or disablement comes signed by the organisation key and is a plain error.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';
import { fakeReset, nextEpoch, operatorDb, writeOperatorList } from '../operator.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

/** The operator's lock-out: the device's key in the database replaced, its sessions dropped. */
function lockOut(device: string): void {
  const d = operatorDb(server.dataDir);
  d.prepare('UPDATE devices SET signature_key = ? WHERE id = ?').run(Buffer.alloc(32, 7), device);
  d.prepare('DELETE FROM sessions WHERE device = ?').run(device);
  d.close();
}

it('a locked-out device raises the alarm instead of a plain sign-in error', async () => {
  const bob = await server.enroll('bob');
  await bob.client.sync();
  lockOut(bob.client.device);
  await expect(bob.client.sync()).rejects.toMatchObject({ code: 'KT_ALARM', message: expect.stringMatching(/refuses this device without a signed reason/) });
  expect(bob.warnings.join('\n')).toMatch(/KEY TRANSPARENCY ALARM/);
});

it('a locked-out device whose key was swapped in the log says so, through the public monitor', async () => {
  const bob = await server.enroll('bob');
  await bob.client.sync();
  // The operator fakes a reset (published as a retirement), then writes its own account key for bob (published).
  fakeReset(server.dataDir, 'bob@localhost');
  await nextEpoch();
  await writeOperatorList(server.dataDir, 'bob@localhost', true);
  await nextEpoch();
  lockOut(bob.client.device);

  const err = await bob.client.sync().then(() => undefined, (e: Error & { code?: string }) => e);
  expect(err?.code).toBe('KT_ALARM');
  expect(err?.message).toMatch(/retires it: none of your devices made it/);
  expect(err?.message).toMatch(/carries an account key that is not yours/);
});

it('a real revocation or disablement is signed by the organisation, and is no alarm', async () => {
  const bob = await server.enroll('bob');
  const dan = await server.enroll('dan');
  await bob.client.sync();
  await dan.client.sync();
  await server.adminRequest('POST', `/v1/admin/users/bob@localhost/devices/${bob.client.device}/revoke`, {});
  await expect(bob.client.sync()).rejects.toMatchObject({ code: 'DEVICE_REVOKED', message: expect.stringMatching(/signed by the organisation key/) });
  await server.adminRequest('POST', '/v1/admin/users/dan@localhost/disable', {});
  await expect(dan.client.sync()).rejects.toMatchObject({ code: 'USER_DISABLED', message: expect.stringMatching(/signed by the organisation key/) });
  expect([...bob.warnings, ...dan.warnings].join('\n')).not.toMatch(/ALARM/);
});
