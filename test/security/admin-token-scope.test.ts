// Attack: a helpdesk's admin token (made to add users and manage devices) is used to mint itself a stronger token,
// change the policy, read the audit log, or revoke the security team's token. Each is refused with FORBIDDEN and
// nothing changes; a token that may manage tokens still cannot grant a scope it does not have itself.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { HttpApi } from '@sealpost/client';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

it("refuses a scoped admin token everything outside its scopes", async () => {
  const helpdesk = await server.adminRequest<{ token: string }>('POST', '/v1/admin/tokens', { name: 'helpdesk', scopes: ['users', 'devices'] });
  await server.adminRequest('POST', '/v1/admin/tokens', { name: 'security', scopes: ['audit'] });
  const api = new HttpApi(server.url);
  const as = (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => api.request(method, path, body, { admin: helpdesk.token });

  // What it is for works.
  await as('POST', '/v1/admin/users', { user: 'frank' });
  await as('GET', '/v1/admin/users/frank%40localhost/devices');
  // Everything else is refused, saying which scope is missing.
  await expect(as('POST', '/v1/admin/tokens', { name: 'escalated', scopes: ['users', 'devices', 'policy', 'audit', 'tokens'] })).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('needs the tokens scope') });
  await expect(as('POST', '/v1/admin/tokens/security/revoke', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
  await expect(as('PUT', '/v1/admin/policy', { maxDevicesPerUser: 1 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  await expect(as('GET', '/v1/admin/audit')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  await expect(as('POST', '/v1/admin/tokens/root/rotate', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });

  // A token that manages tokens cannot hand out more than it has.
  const tokenAdmin = await server.adminRequest<{ token: string }>('POST', '/v1/admin/tokens', { name: 'token-admin', scopes: ['tokens', 'users'] });
  await expect(api.request('POST', '/v1/admin/tokens', { name: 'sneaky', scopes: ['policy'] }, { admin: tokenAdmin.token })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  await api.request('POST', '/v1/admin/tokens', { name: 'helper', scopes: ['users'] }, { admin: tokenAdmin.token });

  const tokens = await server.adminRequest<{ tokens: { name: string; scopes: string[]; revokedAt: string | null }[] }>('GET', '/v1/admin/tokens');
  expect(tokens.tokens.map((t) => [t.name, t.scopes.join(','), t.revokedAt])).toEqual([
    ['helpdesk', 'users,devices', null],
    ['security', 'audit', null],
    ['token-admin', 'tokens,users', null],
    ['helper', 'users', null],
  ]);
});
