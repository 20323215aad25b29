// Attack: calling the admin API with no credential, a wrong one, a device's session token, or a revoked admin
// token. Every call is refused with ADMIN_TOKEN_INVALID (401) and nothing happens, nothing is logged as done.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

const routes: [string, string, unknown?][] = [
  ['POST', '/v1/admin/users', { user: 'mallory' }],
  ['GET', '/v1/admin/users'],
  ['POST', '/v1/admin/users/alice@localhost/disable', {}],
  ['POST', '/v1/admin/users/alice@localhost/enable', {}],
  ['POST', '/v1/admin/users/alice@localhost/reset', {}],
  ['GET', '/v1/admin/users/alice@localhost/lookup'],
  ['GET', '/v1/admin/users/alice@localhost/devices'],
  ['POST', '/v1/admin/users/alice@localhost/devices/dev_AAAAAAAAAAAAAAAAAAAAAA/revoke', {}],
  ['POST', '/v1/admin/users/alice@localhost/devices/dev_AAAAAAAAAAAAAAAAAAAAAA/wipe', {}],
  ['GET', '/v1/admin/policy'],
  ['PUT', '/v1/admin/policy', { change: { maxDevicesPerUser: 1 } }],
  ['GET', '/v1/admin/audit'],
  ['POST', '/v1/admin/tokens', { name: 'mallory' }],
  ['GET', '/v1/admin/tokens'],
  ['POST', '/v1/admin/tokens/helpdesk/revoke', {}],
];

it('refuses every admin route without a valid admin credential', async () => {
  const alice = await server.enroll('alice');
  await alice.client.sync();
  const deviceToken = await (alice.client as unknown as { sessionToken(): Promise<string> }).sessionToken();
  const revoked = await server.adminRequest<{ token: string }>('POST', '/v1/admin/tokens', { name: 'helpdesk', scopes: ['users'] });
  await server.adminRequest('POST', '/v1/admin/tokens/helpdesk/revoke', {});
  const before = (await server.adminRequest<{ entries: unknown[] }>('GET', '/v1/admin/audit')).entries.length;

  for (const auth of [undefined, 'Bearer not-a-token', `Bearer ${deviceToken}`, `Bearer ${revoked.token}`, 'Basic YWRtaW46YWRtaW4=']) {
    for (const [method, url, body] of routes) {
      const res = await server.started.server.app.inject({
        method: method as 'GET',
        url,
        headers: auth ? { authorization: auth } : {},
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      });
      expect(res.statusCode, `${method} ${url} with ${auth ?? 'nothing'}`).toBe(401);
      expect(res.json().error.code).toBe('ADMIN_TOKEN_INVALID');
    }
  }
  expect((await server.adminRequest<{ entries: unknown[] }>('GET', '/v1/admin/audit')).entries.length).toBe(before);
  const users = await server.adminRequest<{ users: { user: string; status: string }[] }>('GET', '/v1/admin/users');
  expect(users.users.map((u) => [u.user, u.status])).toEqual([['alice@localhost', 'active']]);
});
