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

/** The session a token names; UNAUTHENTICATED when there is none or it expired. Counts as the device's activity. */
export async function authenticateDevice(ctx: ServerContext, token: string | undefined): Promise<DeviceSession> {
  if (!token) throw new SealpostError('UNAUTHENTICATED', 'a device session token is required (Authorization: Bearer …)');
  const session = await ctx.store.getSession(sha256(token), ctx.clock.now());
  if (!session) throw new SealpostError('UNAUTHENTICATED', 'session token is invalid or expired');
  noteActivity(ctx, session.device);
  return session;
}

/** How stale `lastSeenAt` may be: a device's activity is written at most once a minute. */
const ACTIVITY_WRITE_EVERY_MS = 60_000;
const lastWritten = new WeakMap<ServerContext, Map<DeviceId, number>>();

/**
 * The device did something (a request, a frame on its connection): its `lastSeenAt`, which admins read to find
 * stale devices, is its last activity, not its last sign-in. Written at most once a minute per device per node.
 */
export function noteActivity(ctx: ServerContext, device: DeviceId): void {
  let seen = lastWritten.get(ctx);
  if (!seen) lastWritten.set(ctx, (seen = new Map()));
  const now = ctx.clock.now();
  if (now - (seen.get(device) ?? 0) < ACTIVITY_WRITE_EVERY_MS) return;
  if (seen.size > 100_000) seen.clear(); // bounded: forgetting only costs one more write per device
  seen.set(device, now);
  ctx.store.touchDevice(device, now).catch((err: unknown) => ctx.log.warn({ err }, 'could not record device activity'));
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
