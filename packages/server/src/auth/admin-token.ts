// Who an admin request comes from: the root token (its hash from the data folder) or a named token (hashed in the
// store), checked once in an onRequest hook for every admin route. Handlers read the actor with `adminOf(req)`,
// which names the credential in the audit log.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SealpostError } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { bearer } from './device-session.js';
import { sha256 } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin hook on the routes registered through `withAdminToken`: `root` or a token's name. */
    adminActor?: string;
  }
}

/** Which admin credential made this request; throws ADMIN_TOKEN_INVALID for none, a wrong or a revoked one. */
export async function requireAdmin(ctx: ServerContext, req: Pick<FastifyRequest, 'headers'>): Promise<string> {
  const token = bearer(req);
  if (!token) throw new SealpostError('ADMIN_TOKEN_INVALID', 'an admin token is required (Authorization: Bearer …)');
  const h = sha256(token);
  if (timingSafeEqual(h, ctx.adminTokenHash)) return 'root';
  const name = await ctx.store.findAdminToken(h);
  if (!name) throw new SealpostError('ADMIN_TOKEN_INVALID', 'admin token is invalid or revoked');
  return name;
}

/** Register `routes` behind an admin token. */
export function withAdminToken(app: FastifyInstance, ctx: ServerContext, routes: (scope: FastifyInstance) => void): void {
  void app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => {
      req.adminActor = await requireAdmin(ctx, req);
    });
    routes(scope);
  });
}

/** The admin credential of a request to a route registered with `withAdminToken`. */
export function adminOf(req: FastifyRequest): string {
  if (!req.adminActor) throw new SealpostError('INTERNAL', 'route registered without an admin token');
  return req.adminActor;
}
