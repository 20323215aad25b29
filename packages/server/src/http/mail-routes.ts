// Outside mail over HTTP: devices submit outbound mail; anyone may fetch a user's OpenPGP key from the Web Key
// Directory (draft-koch-openpgp-webkey-service §3.1, direct and advanced methods); admins see the outbound queue
// (envelopes, never content) and the DNS records to publish.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { MAX_OUTBOUND_BODY_BYTES, SealpostError, parseUnknown, parseUserId, wkdHash, zOutboundSubmit, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { sessionOf, withDeviceSession } from '../auth/device-session.js';
import { adminOf, withAdminToken } from '../auth/admin-token.js';
import { audit } from '../admin/audit.js';
import { submitOutbound, outboundQueueEntry } from '../mail/outbound.js';
import { loadDkimKey, mailDnsRecords } from '../mail/dkim-key.js';
import { mailKeysOf } from '../mail/mail-keys.js';

const zWkdParams = z.object({ hash: z.string().regex(/^[ybndrfg8ejkmcpqxot1uwisza345h769]{32}$/, 'not a WKD hash') }).strict();
const zWkdQuery = z.object({ l: z.string().max(64).optional() }).strict();

export function registerMailRoutes(app: FastifyInstance, ctx: ServerContext, kick: () => void): void {
  withDeviceSession(app, ctx, (app) => {
    app.post('/v1/mail/outbound', { bodyLimit: MAX_OUTBOUND_BODY_BYTES + 4096 }, async (req) => {
      const me = sessionOf(req);
      const body = parseUnknown(zOutboundSubmit, req.body, 'body');
      const res = await submitOutbound(ctx, me, body);
      kick();
      return res;
    });
  });

  // ---- Web Key Directory ------------------------------------------------------------------------------------------
  const policy = async (_req: unknown, reply: FastifyReply) => {
    void reply.header('content-type', 'text/plain; charset=utf-8').header('access-control-allow-origin', '*');
    return '';
  };
  const key = async (req: { params: unknown; query: unknown }, reply: FastifyReply, domain: string | undefined) => {
    if (domain !== undefined && domain.toLowerCase() !== ctx.domain) throw new SealpostError('USER_NOT_FOUND', 'no key for that domain here');
    const { hash } = parseUnknown(zWkdParams, req.params, 'params');
    const { l } = parseUnknown(zWkdQuery, req.query, 'query');
    let user: UserId | undefined;
    if (l !== undefined && wkdHash(l) === hash) user = parseUserId(`${l}@${ctx.domain}`);
    else user = (await ctx.store.listUsers()).find((u) => wkdHash(u.user.slice(0, u.user.indexOf('@'))) === hash)?.user;
    const keys = user ? await mailKeysOf(ctx.store, user) : undefined;
    if (!keys) throw new SealpostError('USER_NOT_FOUND', 'no OpenPGP key published for that address');
    void reply.header('content-type', 'application/octet-stream').header('access-control-allow-origin', '*');
    return Buffer.from(keys.openpgp);
  };
  app.get('/.well-known/openpgpkey/policy', policy);
  app.get('/.well-known/openpgpkey/:domain/policy', policy);
  app.get('/.well-known/openpgpkey/hu/:hash', (req, reply) => key(req, reply, undefined));
  app.get('/.well-known/openpgpkey/:domain/hu/:hash', (req, reply) => {
    const { domain, ...rest } = req.params as { domain: string; hash: string };
    return key({ params: rest, query: req.query }, reply, domain);
  });

  // ---- admin ------------------------------------------------------------------------------------------------------
  withAdminToken(app, ctx, (app) => {
    app.get('/v1/admin/mail/queue', async (req) => {
      const actor = adminOf(req);
      const { limit } = parseUnknown(z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict(), req.query, 'query');
      const entries = await ctx.store.listOutbound(limit);
      await audit(ctx, actor, 'mail.queue.list', '*');
      return { queue: entries.map(outboundQueueEntry) };
    });
    app.get('/v1/admin/mail/dns', async (req) => {
      const actor = adminOf(req);
      const { mx } = parseUnknown(z.object({ mx: z.string().max(253).regex(/^[A-Za-z0-9.-]+$/).optional() }).strict(), req.query, 'query');
      const dkim = await loadDkimKey(ctx);
      await audit(ctx, actor, 'mail.dns.get', ctx.domain);
      return { domain: ctx.domain, selector: dkim.selector, records: mailDnsRecords(ctx.domain, mx ?? `mail.${ctx.domain}`, dkim) };
    });
  });
}
