// Key-transparency routes: the signed tree head, search (a label's latest version, with proofs), monitor (each
// version of a label from one on, with proofs), and the update feed auditors replay. Search needs a device session
// (a directory lookup); monitor does not (a locked-out device must still see its own label), nor do head and feed
// — the feed carries only VRF indexes and commitments, which reveal neither labels nor values.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  SealpostError,
  bytesEqual,
  commitment,
  decodeAccountRecord,
  decodeObjection,
  encodeMonitorResponse,
  encodeSearchResponse,
  parseUnknown,
  toBase64Url,
  verifyObjection,
  zUserId,
} from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { KtLog } from '../kt/kt-log.js';
import { authenticateDevice, bearer, sessionOf, withDeviceSession } from '../auth/device-session.js';
import { addressLimit } from './address-limit.js';
import { b64 } from './fields.js';

const zSince = z.object({ since: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).strict();
const zMonitor = zSince.extend({ from: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }).strict();
const zObjectionPost = z.object({ body: z.string().max(1024), signature: z.string().max(128) }).strict();
const MAX_OBJECTIONS_KEPT = 8;
const zFeed = z.object({ after: z.coerce.number().int().min(-1).default(-1), limit: z.coerce.number().int().min(1).max(100).default(20) }).strict();

/** Where the organisation-signed restart statements are kept (newest last; `admin kt restart`). */
export const KT_RESTARTS_META = 'kt_restarts';

export function registerKtRoutes(app: FastifyInstance, ctx: ServerContext, kt: KtLog): void {
  // Public, like the head: a device locked out by a restore must still read why.
  app.get('/v1/kt/restarts', async () => ({ restarts: JSON.parse((await ctx.store.getMeta(KT_RESTARTS_META)) ?? '[]') as { body: string; signature: string }[] }));

  const headJson = () => {
    const h = kt.treeHead;
    return h ? { size: h.size, root: toBase64Url(h.root), timestamp: h.timestamp, signature: toBase64Url(h.signature) } : null;
  };

  app.get('/v1/kt/head', async () => {
    await kt.catchUp();
    return { head: headJson() };
  });

  // Each search or monitor builds proofs (a new label costs ~6 ms of event loop): a budget per device.
  withDeviceSession(app, ctx, (app) => {
    app.get('/v1/kt/search/:label', async (req) => {
      const me = sessionOf(req);
      ctx.rateLimits.ktRequests.take(me.device);
      const { label } = parseUnknown(z.object({ label: zUserId }).strict(), req.params, 'params');
      const { since } = parseUnknown(zSince, req.query, 'query');
      // A label that changed since the last epoch is published now (batched with whatever else is pending).
      await kt.publishIfPending(label, 50);
      return { proof: toBase64Url(encodeSearchResponse(await kt.search(label, since))) };
    });

    // Monitoring needs no session: a device the server locks out must still be able to see what the log says about
    // its account (public data of a public log). Without a session the budget is per source address.
  });
  app.get('/v1/kt/monitor/:label', async (req) => {
    const token = bearer(req);
    const me = token ? await authenticateDevice(ctx, token).catch(() => undefined) : undefined;
    ctx.rateLimits.ktRequests.take(me ? me.device : `address ${req.ip}`);
    const { label } = parseUnknown(z.object({ label: zUserId }).strict(), req.params, 'params');
    const { since, from } = parseUnknown(zMonitor, req.query, 'query');
    await kt.publishIfPending(label, 50);
    return { proof: toBase64Url(encodeMonitorResponse(await kt.monitor(label, from, since))) };
  });

  // Objections (kt/objection.ts): posted by the owner of an account, signed with the account key a change would
  // replace — also by a device the server locks out, so no session — and served to every client. Kept only when the
  // signing key was this label's key in an earlier version; the newest few per label.
  app.post('/v1/kt/objections', { bodyLimit: 4096, onRequest: addressLimit(ctx) }, async (req) => {
    const body = parseUnknown(zObjectionPost, req.body, 'body');
    const signed = { body: b64(body.body, 'body.body'), signature: b64(body.signature, 'body.signature') };
    let claimed;
    try {
      claimed = decodeObjection(signed.body);
    } catch {
      throw new SealpostError('INVALID_INPUT', 'body.body: not an objection');
    }
    const o = await verifyObjection(ctx.cs.signature, signed, claimed.label);
    if (!o) throw new SealpostError('INVALID_INPUT', 'objection: the signature does not verify under the key it names');
    const earlier = await ctx.store.ktVersions(o.label, 1, Math.min(o.fromVersion - 1, 10_000));
    if (!earlier.some((v) => bytesEqual(decodeAccountRecord(v.value).accountKey, o.accountKey))) {
      throw new SealpostError('INVALID_INPUT', `objection: ${o.label} never had this account key before version ${o.fromVersion}`);
    }
    const key = `kt_objections:${o.label}`;
    const kept = JSON.parse((await ctx.store.getMeta(key)) ?? '[]') as { body: string; signature: string }[];
    if (!kept.some((k) => k.body === body.body)) {
      await ctx.store.setMeta(key, JSON.stringify([...kept, { body: body.body, signature: body.signature }].slice(-MAX_OBJECTIONS_KEPT)));
      ctx.log.warn({ label: o.label, fromVersion: o.fromVersion }, 'kt: the owner of an account objects to versions of its record');
    }
    return { label: o.label, fromVersion: o.fromVersion, stored: true };
  });

  app.get('/v1/kt/objections/:label', async (req) => {
    const { label } = parseUnknown(z.object({ label: zUserId }).strict(), req.params, 'params');
    ctx.rateLimits.ktRequests.take(`address ${req.ip}`);
    return { objections: JSON.parse((await ctx.store.getMeta(`kt_objections:${label}`)) ?? '[]') as { body: string; signature: string }[] };
  });

  /** For auditors: each epoch with its (index, commitment) insertions, prefix root, log root and head signature. */
  app.get('/v1/kt/audit', async (req) => {
    const q = parseUnknown(zFeed, req.query, 'query');
    const epochs = await ctx.store.ktEpochs(q.after, q.limit);
    return {
      epochs: epochs.map((e) => ({
        epoch: e.epoch,
        timestamp: e.timestamp,
        prefixRoot: toBase64Url(e.prefixRoot),
        logRoot: toBase64Url(e.logRoot),
        signature: toBase64Url(e.signature),
        updates: e.updates.map((u) => [toBase64Url(u.index), toBase64Url(commitment(u.opening, u.label, u.version, u.value))]),
      })),
    };
  });
}
