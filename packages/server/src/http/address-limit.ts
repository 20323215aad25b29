// The budget per source address for unauthenticated routes that cost the server work (rate-limit.ts holds the rules).
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';

/** An onRequest hook for unauthenticated routes that cost the server work: a budget per source address. */
export function addressLimit(ctx: ServerContext) {
  return async (req: FastifyRequest): Promise<void> => ctx.rateLimits.unauthenticated.take(req.ip);
}
