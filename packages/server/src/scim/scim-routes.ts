// SCIM 2.0 provisioning (RFC 7643/7644) at /scim/v2, for the organisation's identity provider (Entra ID, Okta,
// Keycloak, authentik): Users (create, read, filter, replace, PATCH including `active: false`, delete) and Groups.
// The provider authenticates with a bearer token: an admin token with the `scim` scope (`sealpost admin token create
// idp --scopes scim`). A user made here is an ordinary Sealpost user; deactivating one disables them, ends their
// sessions and revokes their devices (removed from every conversation by the usual notice); deleting one resets
// them (account key retired). Every change is in the audit log. Filters are parsed by scim2-parse-filter and PATCH
// operations applied by scim-patch; errors are SCIM error bodies, never a 500 for what a request did.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { filter as compileFilter, parse as parseFilter } from 'scim2-parse-filter';
import { scimPatch, type ScimPatchOperation } from 'scim-patch';
import { SealpostError, limits, parseUserId, toBase64Url, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { requireAdmin } from '../auth/admin-token.js';
import { audit } from '../admin/audit.js';
import { addUser, resetUser, setUserStatus } from '../admin/users.js';
import { getPolicy } from '../admin/policy-store.js';
import { publishGroupMembership } from './group-conversations.js';
import type { ScimRecord, UserRecord } from '../store/store.js';
import {
  ENTERPRISE_SCHEMA,
  GROUP_SCHEMA,
  LIST_SCHEMA,
  PATCH_SCHEMA,
  ScimError,
  USER_SCHEMA,
  activeValue,
  canonical,
  displayNameOf,
  scimErrorFor,
  userIdOf,
} from './scim-resources.js';

/** Most resources in one ListResponse page (a provider pages with startIndex and count). */
const MAX_PAGE = 200;
const MAX_FILTER_CHARS = 1000;
const MAX_OPERATIONS = 100;
const MAX_GROUP_MEMBERS = 10_000;

type Resource = Record<string, unknown> & { id: string };

export function registerScimRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const base = '/scim/v2';
  const actorOf = new WeakMap<FastifyRequest, string>();

  app.register(async (scim) => {
    scim.addContentTypeParser(['application/scim+json'], { parseAs: 'string', bodyLimit: limits.maxJsonBodyBytes }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(new ScimError(400, 'invalidSyntax', 'the body is not JSON'), undefined);
      }
    });
    scim.addHook('preHandler', async (req) => {
      actorOf.set(req, await requireAdmin(ctx, req, 'scim'));
    });
    scim.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      // Fastify's own refusals (a body too large, bad JSON) carry a 4xx status; ours are ScimError or SealpostError.
      const fastifyBad = !(err instanceof ScimError) && !(err instanceof SealpostError) && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : undefined;
      const { status, body } = fastifyBad ? scimErrorFor(new ScimError(fastifyBad, fastifyBad === 400 ? 'invalidSyntax' : undefined, err.message)) : scimErrorFor(err);
      if (status >= 500) ctx.log.error({ err }, 'scim: internal error');
      void reply.code(status).type('application/scim+json').send(body);
    });
    const send = (reply: FastifyReply, status: number, body: unknown) => reply.code(status).type('application/scim+json').send(body);
    const actor = (req: FastifyRequest) => actorOf.get(req)!;

    // ---- discovery (RFC 7644 §4) ---------------------------------------------------------------------------------
    scim.get(`${base}/ServiceProviderConfig`, async (_req, reply) =>
      send(reply, 200, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
        patch: { supported: true },
        bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
        filter: { supported: true, maxResults: MAX_PAGE },
        changePassword: { supported: false },
        sort: { supported: false },
        etag: { supported: false },
        authenticationSchemes: [{ type: 'oauthbearertoken', name: 'Bearer token', description: 'A Sealpost admin token with the scim scope' }],
      }),
    );
    scim.get(`${base}/ResourceTypes`, async (_req, reply) =>
      send(reply, 200, {
        schemas: [LIST_SCHEMA],
        totalResults: 2,
        Resources: [
          { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'User', name: 'User', endpoint: '/Users', schema: USER_SCHEMA, schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }] },
          { schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups', schema: GROUP_SCHEMA },
        ],
      }),
    );

    // ---- Users ---------------------------------------------------------------------------------------------------
    const userResource = async (id: string): Promise<Resource | undefined> => {
      const user = await ctx.store.getUser(id as UserId);
      if (!user || (await ctx.store.scimGet('DeletedUser', id))) return undefined;
      return asUserResource(user, await ctx.store.scimGet('User', id));
    };
    /** A Sealpost user as SCIM shows it, with what the provider sent kept beside it. */
    const asUserResource = (user: UserRecord, rec: ScimRecord | undefined): Resource => {
      const id = user.user;
      const attrs = rec ? (JSON.parse(rec.data) as Record<string, unknown>) : {};
      return {
        ...attrs,
        schemas: [USER_SCHEMA, ...(attrs[ENTERPRISE_SCHEMA] ? [ENTERPRISE_SCHEMA] : [])],
        id,
        userName: (attrs.userName as string | undefined) ?? id,
        ...(displayNameOf(attrs) ?? user.name ? { displayName: displayNameOf(attrs) ?? user.name } : {}),
        active: user.status === 'active',
        meta: meta('User', id, rec ?? { createdAt: user.createdAt, updatedAt: user.createdAt, version: 0 }),
      };
    };
    const meta = (type: 'User' | 'Group', id: string, rec: Pick<ScimRecord, 'createdAt' | 'updatedAt' | 'version'>) => ({
      resourceType: type,
      created: new Date(rec.createdAt).toISOString(),
      lastModified: new Date(rec.updatedAt).toISOString(),
      location: `${base}/${type}s/${encodeURIComponent(id)}`,
      version: `W/"${rec.version}"`,
    });
    const requireUserResource = async (id: string) => {
      const r = await userResource(id);
      if (!r) throw new ScimError(404, undefined, `no User ${id.slice(0, 100)}`);
      return r;
    };

    /** Store what the provider sent for a user and apply what Sealpost acts on: display name and `active`. */
    const applyUser = async (req: FastifyRequest, id: UserId, attrs: Record<string, unknown>, before: Resource | undefined): Promise<void> => {
      const now = ctx.clock.now();
      const { active, ...kept } = attrs;
      delete kept.schemas;
      const prev = await ctx.store.scimGet('User', id);
      await ctx.store.scimPut({ type: 'User', id, externalId: typeof kept.externalId === 'string' ? kept.externalId.slice(0, 200) : null, data: JSON.stringify(kept), createdAt: prev?.createdAt ?? now, updatedAt: now, version: (prev?.version ?? 0) + 1 });
      if (active !== undefined) {
        const want = activeValue(active);
        // Deactivated: devices revoked, and wiped too when the organisation's policy says so.
        const wipe = !want && (await getPolicy(ctx)).scimDeactivateWipe;
        if (before && want !== before.active) await setUserStatus(ctx, actor(req), id, want ? 'active' : 'disabled', { revoke: !want, wipe, details: { via: 'scim' } });
      }
    };

    scim.post(`${base}/Users`, async (req, reply) => {
      const attrs = canonical(req.body, 'User');
      const id = parseUserId(userIdOf(attrs.userName, ctx.domain));
      if (await ctx.store.getUser(id)) {
        throw new ScimError(409, 'uniqueness', (await ctx.store.scimGet('DeletedUser', id)) ? `userName ${id} belonged to a deleted user: Sealpost never gives an id to someone else` : `userName ${id} is taken`);
      }
      await addUser(ctx, actor(req), id, displayNameOf(attrs), { via: 'scim' });
      await applyUser(req, id, attrs, await userResource(id));
      return send(reply, 201, await requireUserResource(id));
    });

    scim.get(`${base}/Users`, async (req, reply) => {
      const q = listQuery(req.query);
      // Three reads whatever the number of users (a provider asks this for every user it syncs).
      const kept = new Map((await ctx.store.scimList('User')).map((r) => [r.id, r]));
      const deleted = new Set((await ctx.store.scimList('DeletedUser')).map((r) => r.id));
      const all = (await ctx.store.listUsers()).filter((u) => !deleted.has(u.user)).map((u) => asUserResource(u, kept.get(u.user)));
      return send(reply, 200, page(all, q));
    });

    scim.get(`${base}/Users/:id`, async (req, reply) => send(reply, 200, await requireUserResource(idParam(req))));

    scim.put(`${base}/Users/:id`, async (req, reply) => {
      const id = idParam(req) as UserId;
      const before = await requireUserResource(id);
      const attrs = canonical(req.body, 'User');
      if (attrs.userName !== undefined && userIdOf(attrs.userName, ctx.domain) !== id) throw new ScimError(400, 'mutability', 'userName cannot change: a Sealpost user id is for life');
      await applyUser(req, id, attrs, before);
      await audit(ctx, actor(req), 'scim.user.replace', id);
      return send(reply, 200, await requireUserResource(id));
    });

    scim.patch(`${base}/Users/:id`, async (req, reply) => {
      const id = idParam(req) as UserId;
      const before = await requireUserResource(id);
      const patched = applyPatch(before, req.body, 'User');
      if (userIdOf(patched.userName, ctx.domain) !== id) throw new ScimError(400, 'mutability', 'userName cannot change: a Sealpost user id is for life');
      await applyUser(req, id, canonical(strip(patched), 'User'), before);
      await audit(ctx, actor(req), 'scim.user.patch', id, { operations: operationsOf(req.body).length });
      return send(reply, 200, await requireUserResource(id));
    });

    scim.delete(`${base}/Users/:id`, async (req, reply) => {
      const id = idParam(req) as UserId;
      await requireUserResource(id);
      // A Sealpost user id is never reused: deleting resets the account (devices revoked, account key retired, shown
      // to contacts) and disables it; the provider no longer sees it.
      await resetUser(ctx, actor(req), id, { via: 'scim' });
      await setUserStatus(ctx, actor(req), id, 'disabled', { details: { via: 'scim' } });
      await ctx.store.scimDelete('User', id);
      await ctx.store.scimPut({ type: 'DeletedUser', id, externalId: null, data: '{}', createdAt: ctx.clock.now(), updatedAt: ctx.clock.now(), version: 1 });
      await audit(ctx, actor(req), 'scim.user.delete', id);
      return reply.code(204).send();
    });

    // ---- Groups --------------------------------------------------------------------------------------------------
    const groupResource = (rec: ScimRecord): Resource => {
      const attrs = JSON.parse(rec.data) as Record<string, unknown>;
      return { ...attrs, schemas: [GROUP_SCHEMA], id: rec.id, meta: meta('Group', rec.id, rec) };
    };
    const requireGroup = async (id: string) => {
      const rec = await ctx.store.scimGet('Group', id);
      if (!rec) throw new ScimError(404, undefined, `no Group ${id.slice(0, 100)}`);
      return rec;
    };
    /** Members must be users of this server, named by their SCIM id. */
    const checkGroup = async (attrs: Record<string, unknown>) => {
      if (typeof attrs.displayName !== 'string' || attrs.displayName.trim().length === 0 || attrs.displayName.length > 200) throw new ScimError(400, 'invalidValue', 'displayName: required, at most 200 characters');
      const members = attrs.members ?? [];
      if (!Array.isArray(members) || members.length > MAX_GROUP_MEMBERS) throw new ScimError(400, 'invalidValue', `members: a list of at most ${MAX_GROUP_MEMBERS}`);
      const seen = new Set<string>();
      const out: { value: string; display?: string }[] = [];
      for (const m of members as { value?: unknown; display?: unknown }[]) {
        if (typeof m?.value !== 'string') throw new ScimError(400, 'invalidValue', 'members: each needs a value (the user\'s id)');
        if (!(await ctx.store.getUser(m.value as UserId))) throw new ScimError(400, 'invalidValue', `members: no User ${m.value.slice(0, 100)}`);
        if (seen.has(m.value)) continue;
        seen.add(m.value);
        out.push({ value: m.value, ...(typeof m.display === 'string' ? { display: m.display.slice(0, 200) } : {}) });
      }
      return { displayName: attrs.displayName.trim(), ...(typeof attrs.externalId === 'string' ? { externalId: attrs.externalId.slice(0, 200) } : {}), members: out };
    };
    const saveGroup = async (id: string, attrs: Awaited<ReturnType<typeof checkGroup>>, prev: ScimRecord | undefined) => {
      const now = ctx.clock.now();
      const rec: ScimRecord = { type: 'Group', id, externalId: attrs.externalId ?? null, data: JSON.stringify(attrs), createdAt: prev?.createdAt ?? now, updatedAt: now, version: (prev?.version ?? 0) + 1 };
      await ctx.store.scimPut(rec);
      if ((await getPolicy(ctx)).scimGroupConversations) await publishGroupMembership(ctx, rec.id, attrs.displayName, attrs.members.map((m) => m.value as UserId), rec.version);
      return rec;
    };

    scim.post(`${base}/Groups`, async (req, reply) => {
      const attrs = await checkGroup(canonical(req.body, 'Group'));
      const existing = (await ctx.store.scimList('Group')).find((g) => (JSON.parse(g.data) as { displayName: string }).displayName.toLowerCase() === attrs.displayName.toLowerCase());
      if (existing) throw new ScimError(409, 'uniqueness', `a Group named ${attrs.displayName} exists`);
      const rec = await saveGroup(`g_${toBase64Url(randomBytes(12))}`, attrs, undefined);
      await audit(ctx, actor(req), 'scim.group.create', rec.id, { members: attrs.members.length });
      return send(reply, 201, groupResource(rec));
    });
    scim.get(`${base}/Groups`, async (req, reply) => send(reply, 200, page((await ctx.store.scimList('Group')).map(groupResource), listQuery(req.query))));
    scim.get(`${base}/Groups/:id`, async (req, reply) => send(reply, 200, groupResource(await requireGroup(idParam(req)))));
    scim.put(`${base}/Groups/:id`, async (req, reply) => {
      const prev = await requireGroup(idParam(req));
      const rec = await saveGroup(prev.id, await checkGroup(canonical(req.body, 'Group')), prev);
      await audit(ctx, actor(req), 'scim.group.replace', rec.id);
      return send(reply, 200, groupResource(rec));
    });
    scim.patch(`${base}/Groups/:id`, async (req, reply) => {
      const prev = await requireGroup(idParam(req));
      const before = groupResource(prev);
      const patched = applyPatch(before, req.body, 'Group');
      const rec = await saveGroup(prev.id, await checkGroup(canonical(strip(patched), 'Group')), prev);
      const was = new Set(((before.members ?? []) as { value: string }[]).map((m) => m.value));
      const now = new Set((JSON.parse(rec.data) as { members: { value: string }[] }).members.map((m) => m.value));
      await audit(ctx, actor(req), 'scim.group.patch', rec.id, { added: [...now].filter((m) => !was.has(m)).length, removed: [...was].filter((m) => !now.has(m)).length });
      // Entra ID and Okta take 204 or 200; 200 with the group tells them what it holds now.
      return send(reply, 200, groupResource(rec));
    });
    scim.delete(`${base}/Groups/:id`, async (req, reply) => {
      const prev = await requireGroup(idParam(req));
      await ctx.store.scimDelete('Group', prev.id);
      await audit(ctx, actor(req), 'scim.group.delete', prev.id);
      return reply.code(204).send();
    });
  });
}

const idParam = (req: FastifyRequest): string => {
  const id = (req.params as { id?: string }).id ?? '';
  if (id.length === 0 || id.length > 320) throw new ScimError(404, undefined, 'no such resource');
  return id;
};

/** Without what the server sets: a resource as a request body. */
const strip = (r: Record<string, unknown>): Record<string, unknown> => {
  const { meta: _m, id: _i, ...rest } = r;
  return rest;
};

const operationsOf = (body: unknown): ScimPatchOperation[] => {
  const b = body as { schemas?: unknown; Operations?: unknown; operations?: unknown } | null;
  const ops = b?.Operations ?? b?.operations;
  if (!Array.isArray(ops) || ops.length === 0) throw new ScimError(400, 'invalidSyntax', `a PatchOp body (schemas ["${PATCH_SCHEMA}"]) with Operations`);
  if (ops.length > MAX_OPERATIONS) throw new ScimError(400, 'tooMany', `at most ${MAX_OPERATIONS} operations`);
  return ops as ScimPatchOperation[];
};

/**
 * PATCH operations applied to the resource as the provider sees it (scim-patch). What providers actually send is
 * normalised first: `op` in any case, and a path's attribute names in any case.
 */
function applyPatch(resource: Resource, body: unknown, kind: 'User' | 'Group'): Record<string, unknown> {
  const ops = operationsOf(body).map((o) => {
    const op = String((o as { op?: unknown }).op ?? '').toLowerCase();
    if (!['add', 'remove', 'replace'].includes(op)) throw new ScimError(400, 'invalidSyntax', `op: add, remove or replace (got ${String((o as { op?: unknown }).op).slice(0, 20)})`);
    const path = (o as { path?: unknown }).path;
    if (path !== undefined && typeof path !== 'string') throw new ScimError(400, 'invalidPath', 'path: a string');
    if (path !== undefined) checkPath(path, kind);
    if (path === undefined && (o as { value?: unknown }).value !== undefined) canonical((o as { value?: unknown }).value, kind); // names checked
    return { ...(o as object), op, ...(path !== undefined ? { path } : {}) } as ScimPatchOperation;
  });
  try {
    const lowered = lowerKeys(resource, kind);
    return scimPatch(lowered as never, ops.map((o) => ('value' in o && o.path === undefined ? { ...o, value: lowerKeys(o.value as Record<string, unknown>, kind) } : o)) as ScimPatchOperation[], { mutateDocument: false, treatMissingAsAdd: true }) as unknown as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ScimError) throw err;
    throw new ScimError(400, 'invalidPath', `PATCH: ${(err as Error).message.slice(0, 200)}`);
  }
}

/** Canonical attribute names for a whole resource (so a patch path in any case finds them). */
function lowerKeys(r: Record<string, unknown>, kind: 'User' | 'Group'): Record<string, unknown> {
  if (typeof r !== 'object' || r === null) return r;
  const { meta, id, schemas, ...rest } = r;
  return { ...canonical(rest, kind), ...(schemas ? { schemas } : {}), ...(id ? { id } : {}), ...(meta ? { meta } : {}) };
}

/** A PATCH path's first attribute must be one SCIM defines for the resource (its case is mended). */
function checkPath(path: string, kind: 'User' | 'Group'): void {
  if (path.length > 500) throw new ScimError(400, 'invalidPath', 'path: too long');
  const head = /^(urn:[^:]+(?::[^:]+)*:[A-Za-z]+|[A-Za-z][A-Za-z0-9$_-]*)/.exec(path)?.[1];
  if (!head) throw new ScimError(400, 'invalidPath', `path: ${path.slice(0, 80)} is not an attribute path`);
  const base = head.startsWith('urn:') ? (head.toLowerCase().startsWith(ENTERPRISE_SCHEMA.toLowerCase()) ? ENTERPRISE_SCHEMA : head) : head;
  try {
    canonical({ [base]: null }, kind);
  } catch {
    throw new ScimError(400, 'invalidPath', `path: no attribute "${head.slice(0, 80)}" on a ${kind}`);
  }
}

interface ListQuery {
  filter?: (r: Record<string, unknown>) => boolean;
  startIndex: number;
  count: number;
}

function listQuery(query: unknown): ListQuery {
  const q = (query ?? {}) as Record<string, unknown>;
  const num = (v: unknown, dflt: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new ScimError(400, 'invalidValue', `startIndex and count are whole numbers (got ${String(v).slice(0, 20)})`);
    return n;
  };
  const startIndex = Math.max(1, num(q.startIndex, 1));
  const count = Math.min(MAX_PAGE, Math.max(0, num(q.count, MAX_PAGE)));
  if (q.filter === undefined) return { startIndex, count };
  if (typeof q.filter !== 'string' || q.filter.length > MAX_FILTER_CHARS) throw new ScimError(400, 'invalidFilter', `filter: at most ${MAX_FILTER_CHARS} characters`);
  try {
    return { filter: compileFilter(parseFilter(q.filter)) as (r: Record<string, unknown>) => boolean, startIndex, count };
  } catch (err) {
    throw new ScimError(400, 'invalidFilter', `filter: ${(err as Error).message.slice(0, 200)}`);
  }
}

function page(all: Record<string, unknown>[], q: ListQuery) {
  const hits = q.filter ? all.filter((r) => q.filter!(r)) : all;
  const slice = hits.slice(q.startIndex - 1, q.startIndex - 1 + q.count);
  return { schemas: [LIST_SCHEMA], totalResults: hits.length, startIndex: q.startIndex, itemsPerPage: slice.length, Resources: slice };
}
