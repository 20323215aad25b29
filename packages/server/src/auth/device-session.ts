// Who a request comes from, for the routes a device signs in to: a bearer session token (auth/tokens.ts) looked up
// once, in an onRequest hook registered for the whole group of routes (fastify encapsulation), so no handler checks
// it by hand and none can forget to. Handlers read the session with `sessionOf(req)`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SealpostError, type DeviceId, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { sha256 } from './tokens.js';

export interface DeviceSession {
  device: DeviceId;
  user: UserId;
  expiresAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the device-session hook on the routes registered through `withDeviceSession`. */
    deviceSession?: DeviceSession;
  }
}

export function bearer(req: Pick<FastifyRequest, 'headers'>): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || !h.startsWith('Bearer ') || h.length > 300) return undefined;
  return h.slice(7).trim();
}

/** The session a token names; UNAUTHENTICATED when there is none or it expired. */
export async function authenticateDevice(ctx: ServerContext, token: string | undefined): Promise<DeviceSession> {
  if (!token) throw new SealpostError('UNAUTHENTICATED', 'a device session token is required (Authorization: Bearer …)');
  const session = await ctx.store.getSession(sha256(token), ctx.clock.now());
  if (!session) throw new SealpostError('UNAUTHENTICATED', 'session token is invalid or expired');
  return session;
}

/** Register `routes` behind a device session: the hook runs before the body is read. */
export function withDeviceSession(app: FastifyInstance, ctx: ServerContext, routes: (scope: FastifyInstance) => void): void {
  void app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => {
      req.deviceSession = await authenticateDevice(ctx, bearer(req));
    });
    routes(scope);
  });
}

/** The session of a request to a route registered with `withDeviceSession`. */
export function sessionOf(req: FastifyRequest): DeviceSession {
  if (!req.deviceSession) throw new SealpostError('INTERNAL', 'route registered without a device session');
  return req.deviceSession;
}
