// SCIM provisioning as real identity providers do it: request sequences in the shapes Entra ID and Okta send (their
// documented payloads: create, filter by userName, PATCH active "False", PUT, group member add and remove), replayed
// against a real server with a token of the scim scope. After each step: the Sealpost user, their devices, and the
// audit log. Bad filters, unknown attributes and wrong tokens get SCIM error bodies, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpApi } from '@sealpost/client';
import { groupConversationId } from '@sealpost/protocol';
import { chats, startTestServer, type TestClient, type TestServer } from '../helpers.js';

let server: TestServer;
let scimToken: string;
let alice: TestClient;

const scim = async (method: string, path: string, body?: unknown, token = scimToken) => {
  const res = await fetch(`${server.url}/scim/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
};
const admin = () => new HttpApi(server.url);
const auditActions = async () =>
  ((await admin().request('GET', '/v1/admin/audit', undefined, { admin: server.adminToken })) as { entries: { action: string; target: string; actor: string; details: Record<string, unknown> }[] }).entries;

beforeAll(async () => {
  server = await startTestServer();
  const t = await admin().request<{ token: string }>('POST', '/v1/admin/tokens', { name: 'entra', scopes: ['scim'] }, { admin: server.adminToken });
  scimToken = t.token;
  alice = await server.enroll('alice');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe('Entra ID', () => {
  it('looks a user up, creates them, deactivates them with "False", and the user can no longer sign in; devices revoked', async () => {
    // Entra checks first whether the user exists.
    const none = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "dana@localhost"')}`);
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ totalResults: 0, Resources: [] });
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      userName: 'dana@localhost',
      active: true,
      emails: [{ primary: true, type: 'work', value: 'dana@localhost' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'Dana Scully', familyName: 'Scully', givenName: 'Dana' },
      roles: [],
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Forensics' },
    });
    expect(created.status).toBe(201);
    expect(created.type).toContain('application/scim+json');
    expect(created.body).toMatchObject({ id: 'dana@localhost', userName: 'dana@localhost', active: true, displayName: 'Dana Scully', externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef' });
    const found = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "dana@localhost"')}`);
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: 'dana@localhost' }] });
    // A second create of the same userName: uniqueness.
    expect(await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'dana@localhost' })).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });

    // Alice is provisioned by Entra too (she exists already: Entra would find her by filter) and leaves: PATCH active "False".
    const off = await scim('PATCH', '/Users/alice@localhost', { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ active: false });
    const users = (await admin().request<{ users: { user: string; status: string }[] }>('GET', '/v1/admin/users', undefined, { admin: server.adminToken })).users;
    expect(users.find((u) => u.user === 'alice@localhost')?.status).toBe('disabled');
    const devices = await admin().request<{ devices: { status: string }[] }>('GET', '/v1/admin/users/alice@localhost/devices', undefined, { admin: server.adminToken });
    expect(devices.devices.every((d) => d.status === 'revoked')).toBe(true);
    await expect(alice.client.sync()).rejects.toThrow();
    const audit = await auditActions();
    expect(audit).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'user.add', target: 'dana@localhost', actor: 'entra' }),
      expect.objectContaining({ action: 'user.disable', target: 'alice@localhost', actor: 'entra' }),
      expect.objectContaining({ action: 'scim.user.patch', target: 'alice@localhost' }),
    ]));
  });

  it('adds and removes group members the way Entra does', async () => {
    const g = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], externalId: 'e1', displayName: 'Forensics', members: [] });
    expect(g.status).toBe(201);
    const id = g.body!.id as string;
    const add = await scim('PATCH', `/Groups/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Add', path: 'members', value: [{ value: 'dana@localhost' }] }] });
    expect(add.body!.members).toEqual([{ value: 'dana@localhost' }]);
    const remove = await scim('PATCH', `/Groups/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Remove', path: 'members[value eq "dana@localhost"]' }] });
    expect(remove.body!.members).toEqual([]);
    expect(await scim('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Forensics"')}`)).toMatchObject({ body: { totalResults: 1 } });
  });
});

describe('Okta', () => {
  it('creates with PUT-style updates, deactivates with a path-less replace, and deletes (a reset)', async () => {
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'erin',
      name: { givenName: 'Erin', familyName: 'Reyes' },
      emails: [{ primary: true, value: 'erin@localhost', type: 'work' }],
      displayName: 'Erin Reyes',
      locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7',
      groups: [],
      password: 'never-kept-1!',
      active: true,
    });
    expect(created.status).toBe(201);
    expect(created.body!.id).toBe('erin@localhost');
    expect(JSON.stringify(created.body)).not.toContain('never-kept');
    const put = await scim('PUT', '/Users/erin@localhost', { ...created.body, name: { givenName: 'Erin', familyName: 'Reyes-Lopez' }, displayName: 'Erin Reyes-Lopez' });
    expect(put.body).toMatchObject({ displayName: 'Erin Reyes-Lopez', name: { familyName: 'Reyes-Lopez' } });
    const off = await scim('PATCH', '/Users/erin@localhost', { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(off.body).toMatchObject({ active: false });
    const del = await scim('DELETE', '/Users/erin@localhost');
    expect(del.status).toBe(204);
    expect((await scim('GET', '/Users/erin@localhost')).status).toBe(404);
    expect(await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'erin' })).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
    expect((await auditActions()).map((e) => e.action)).toEqual(expect.arrayContaining(['user.reset', 'scim.user.delete', 'scim.user.replace']));
  });
});

describe('policy scim-deactivate-wipe', () => {
  it('a user deactivated by the provider also has every device wiped when the policy says so', async () => {
    const frank = await server.enroll('frank');
    await admin().request('PUT', '/v1/admin/policy', { change: { scimDeactivateWipe: true } }, { admin: server.adminToken });
    const off = await scim('PATCH', '/Users/frank@localhost', { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(off.body).toMatchObject({ active: false });
    expect(await server.started.server.ctx.store.getWipe(frank.client.device as never)).toMatchObject({ device: frank.client.device });
    await expect(frank.client.sync()).rejects.toMatchObject({ code: 'DEVICE_WIPED' });
    expect((await auditActions()).find((e) => e.action === 'user.disable' && e.target === 'frank@localhost')).toMatchObject({ details: { devicesWiped: 1 } });
  });
});

describe('policy scim-group-conversations', () => {
  it("a group's members get a conversation that follows the group: made by a member, members added and removed", async () => {
    const [hana, ivan, jo] = [await server.enroll('hana'), await server.enroll('ivan'), await server.enroll('jo')];
    await admin().request('PUT', '/v1/admin/policy', { change: { scimGroupConversations: true } }, { admin: server.adminToken });
    const g = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Incident response', members: [{ value: 'hana@localhost' }, { value: 'ivan@localhost' }] });
    const conversation = groupConversationId(g.body!.id as string);
    // A member's device makes the conversation (nobody else can: the server holds no keys); the other is welcomed.
    await hana.client.sync();
    await ivan.client.sync();
    const convOf = (c: TestClient) => c.client.conversations().find((x) => x.id === conversation);
    expect(convOf(hana)).toMatchObject({ members: expect.arrayContaining(['hana@localhost', 'ivan@localhost']), name: 'Incident response' });
    expect(convOf(ivan)?.members.sort()).toEqual(['hana@localhost', 'ivan@localhost']);
    await hana.client.send({ conversation }, 'first briefing at nine');
    expect(chats(await ivan.client.sync()).map((m) => m.text)).toContain('first briefing at nine');

    // Jo joins the group in the provider: a member's device adds jo.
    await scim('PATCH', `/Groups/${g.body!.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: 'jo@localhost' }] }] });
    await hana.client.sync();
    await jo.client.sync();
    expect(convOf(jo)?.members.sort()).toEqual(['hana@localhost', 'ivan@localhost', 'jo@localhost']);

    // Ivan leaves the group: removed by a member's commit, and reads nothing sent afterwards.
    await scim('PATCH', `/Groups/${g.body!.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'remove', path: 'members[value eq "ivan@localhost"]' }] });
    await hana.client.sync();
    await ivan.client.sync();
    expect(convOf(ivan)?.status).toBe('removed');
    await hana.client.send({ conversation }, 'after ivan left');
    expect(chats(await jo.client.sync()).map((m) => m.text)).toContain('after ivan left');
    expect(chats(await ivan.client.sync()).map((m) => m.text)).not.toContain('after ivan left');
  });
});

describe('bad requests get SCIM error bodies', () => {
  it('a bad filter, an unknown attribute or path, a user of another domain, a wrong token, a non-JSON body', async () => {
    const err = { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'] };
    expect(await scim('GET', `/Users?filter=${encodeURIComponent('userName eq')}`)).toMatchObject({ status: 400, body: { ...err, scimType: 'invalidFilter' } });
    expect(await scim('GET', `/Users?filter=${encodeURIComponent('(((userName eq "x"')}`)).toMatchObject({ status: 400, body: { scimType: 'invalidFilter' } });
    expect(await scim('POST', '/Users', { userName: 'fred', favouriteColour: 'green' })).toMatchObject({ status: 400, body: { ...err, scimType: 'invalidSyntax' } });
    expect(await scim('PATCH', '/Users/dana@localhost', { Operations: [{ op: 'replace', path: 'favouriteColour', value: 'x' }] })).toMatchObject({ status: 400, body: { scimType: 'invalidPath' } });
    expect(await scim('PATCH', '/Users/dana@localhost', { Operations: [{ op: 'replace', path: 'active', value: 'maybe' }] })).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    expect(await scim('POST', '/Users', { userName: 'fred@elsewhere.example' })).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    expect(await scim('GET', '/Users/nobody@localhost')).toMatchObject({ status: 404, body: err });
    expect(await scim('GET', '/Users', undefined, 'not-a-token')).toMatchObject({ status: 401, body: err });
    expect(await scim('GET', '/Users', undefined, server.adminToken)).toMatchObject({ status: 200 }); // root may do everything
    const res = await fetch(`${server.url}/scim/v2/Users`, { method: 'POST', headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' }, body: '{not json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { schemas: string[] }).schemas).toEqual(err.schemas);
  });

  it('a token without the scim scope is refused', async () => {
    const t = await admin().request<{ token: string }>('POST', '/v1/admin/tokens', { name: 'helpdesk', scopes: ['users'] }, { admin: server.adminToken });
    expect(await scim('GET', '/Users', undefined, t.token)).toMatchObject({ status: 403, body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'] } });
  });
});
