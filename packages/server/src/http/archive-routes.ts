// The archive service's report of each export (docs/legal-hold.md): who exported, when, which user and period —
// never content, which the server never has. Only the organisation's archive account may report.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SealpostError, isArchiveAccount, limits, parseUnknown, zUserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { sessionOf, withDeviceSession } from '../auth/device-session.js';
import { audit } from '../admin/audit.js';

const zExportReport = z
  .object({
    user: zUserId,
    from: z.string().datetime().optional(),
    to: z.string().datetime().optional(),
    chats: z.number().int().min(0).max(1e12),
    mails: z.number().int().min(0).max(1e12),
    /** SHA-256 of the export's manifest, hex. */
    manifest: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export function registerArchiveRoutes(app: FastifyInstance, ctx: ServerContext): void {
  withDeviceSession(app, ctx, (app) => {
    app.post('/v1/archive/exports', { bodyLimit: limits.maxJsonBodyBytes }, async (req) => {
      const me = sessionOf(req);
      if (!isArchiveAccount(me.user)) throw new SealpostError('FORBIDDEN', 'only the organisation\'s archive account reports exports');
      const body = parseUnknown(zExportReport, req.body, 'body');
      await audit(ctx, `${me.user}/${me.device}`, 'archive.export', body.user, {
        ...(body.from ? { from: body.from } : {}),
        ...(body.to ? { to: body.to } : {}),
        chats: body.chats,
        mails: body.mails,
        manifest: body.manifest,
      });
      return { recorded: true };
    });
  });
}
