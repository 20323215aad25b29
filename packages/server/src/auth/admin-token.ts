// Who an admin request comes from: the root token (its hash from the data folder) or a named token (hashed in the
// store), checked once in an onRequest hook for every admin route. Handlers read the actor with `adminOf(req)`,
// which names the credential in the audit log.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SealpostError } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { AdminScope } from '../store/store.js';
import { bearer } from './device-session.js';
import { sha256 } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin hook on the routes registered through `withAdminToken`: `root` or a token's name. */
    adminActor?: string;
  }
}

/** The hash of the root token: from the store (it can be rotated), as the data folder's admin-token file was made. */
async function rootTokenHash(ctx: ServerContext): Promise<Uint8Array> {
  const hex = await ctx.store.getMeta(ROOT_TOKEN_META);
  return hex ? new Uint8Array(Buffer.from(hex, 'hex')) : ctx.adminTokenHash;
}
export const ROOT_TOKEN_META = 'admin_token_sha256';

/** Which scope an admin route needs, by its path: one place that says what a named token may reach. */
export function scopeOfRoute(path: string): AdminScope {
  if (path.startsWith('/v1/admin/users/:user/devices')) return 'devices';
  if (path.startsWith('/v1/admin/users')) return 'users';
  if (path.startsWith('/v1/admin/policy')) return 'policy';
  if (path.startsWith('/v1/admin/audit')) return 'audit';
  if (path.startsWith('/v1/admin/tokens')) return 'tokens';
  if (path.startsWith('/v1/admin/kt')) return 'policy'; // and only root, checked by the route
  if (path.startsWith('/v1/admin/mail')) return 'policy';
  if (path.startsWith('/v1/admin/holds')) return 'users'; // a hold names one user, like the other user actions
  if (path.startsWith('/v1/admin/archive')) return 'users';
  if (path.startsWith('/v1/admin/conversations')) return 'policy'; // counts by MLS suite: what the suite policy has reached // the archive account is a user, added like one
  if (path.startsWith('/scim/')) return 'scim';
  throw new SealpostError('INTERNAL', `admin route ${path} has no scope`);
}

/**
 * Which admin credential made this request; ADMIN_TOKEN_INVALID for none, a wrong or a revoked one, FORBIDDEN for a
 * named token without the route's scope. `root` may do everything.
 */
export async function requireAdmin(ctx: ServerContext, req: Pick<FastifyRequest, 'headers'>, scope?: AdminScope): Promise<string> {
  const token = bearer(req);
  if (!token) throw new SealpostError('ADMIN_TOKEN_INVALID', 'an admin token is required (Authorization: Bearer …)');
  const h = sha256(token);
  if (timingSafeEqual(h, await rootTokenHash(ctx))) return 'root';
  const named = await ctx.store.findAdminToken(h);
  if (!named) throw new SealpostError('ADMIN_TOKEN_INVALID', 'admin token is invalid, revoked, or a root token that was rotated');
  if (scope && !named.scopes.includes(scope)) {
    throw new SealpostError('FORBIDDEN', `admin token ${named.name} may not do this (it needs the ${scope} scope; it has ${named.scopes.join(', ') || 'none'})`);
  }
  return named.name;
}

/** Register `routes` behind an admin token, each checked against the scope its path needs. */
export function withAdminToken(app: FastifyInstance, ctx: ServerContext, routes: (scope: FastifyInstance) => void): void {
  void app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => {
      req.adminActor = await requireAdmin(ctx, req, scopeOfRoute(req.routeOptions.url ?? req.url));
    });
    routes(scope);
  });
}

/** The admin credential of a request to a route registered with `withAdminToken`. */
export function adminOf(req: FastifyRequest): string {
  if (!req.adminActor) throw new SealpostError('INTERNAL', 'route registered without an admin token');
  return req.adminActor;
}
