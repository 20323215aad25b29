// The admin API (design.md, Admin): users, devices, policy, audit log, lookup, admin credentials. Every call needs
// an admin credential (the bootstrap token, "root", or a named one; all stored as hashes) and every call except
// reading the audit log is itself recorded in the audit log. No admin call can reach content: the server has none.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  SealpostError,
  MAX_HOLD_REASON_CHARS,
  describePolicy,
  holdActive,
  type LegalHold,
  limits,
  parseUnknown,
  signKtRestart,
  parseUserId,
  toBase64Url,
  userDomain,
  zAdminUserAdd,
  zDeviceId,
  zPolicyFields,
  zUserId,
  type DeviceId,
  type UserId,
} from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { newActivationCode, newToken, sha256 } from '../auth/tokens.js';
import { activationCodeMac } from '../server-secret.js';
import { audit } from '../admin/audit.js';
import { changePolicy, getPolicy } from '../admin/policy-store.js';
import { revokeDevices, wipeDevices } from '../admin/revoke.js';
import { applyRetention } from '../admin/retention.js';
import { ROOT_TOKEN_META, adminOf, withAdminToken } from '../auth/admin-token.js';
import { adminScopes } from '../store/store.js';
import { KT_RESTARTS_META } from './kt-routes.js';
import { createArchiveAccount, currentHolds, placeHold, releaseHold } from '../admin/legal-holds.js';
import { addUser, resetUser, setUserStatus } from '../admin/users.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
const zUserParams = z.object({ user: zUserId }).strict();

/** A user as an admin names one: `alice` means `alice@<this server's domain>`, in every admin route. */
function qualify(ctx: ServerContext, user: string): string {
  return user.includes('@') ? user : `${user}@${ctx.domain}`;
}
function userParams(ctx: ServerContext, params: unknown): unknown {
  const p = params as { user?: unknown } | null;
  return p && typeof p.user === 'string' ? { ...p, user: qualify(ctx, p.user) } : params;
}
const zDeviceParams = z.object({ user: zUserId, device: zDeviceId }).strict();
const zTokenName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use 1-63 of a-z 0-9 . _ - (starting with a letter or digit)');
const zAuditQuery = z.object({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(1000) }).strict();

const zQueueDrop = z
  .object({ seqs: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(limits.maxAckBatch).optional(), all: z.literal(true).optional() })
  .strict()
  .refine((b) => (b.seqs === undefined) !== (b.all === undefined), 'give either seqs or all: true');

/** The first items of a device's queue and its totals (count, bytes, oldest), read in pages. */
async function queueSummary(ctx: ServerContext, device: DeviceId) {
  const first = await ctx.store.listQueue(device, 0, 50);
  let items = 0;
  let bytes = 0;
  let oldestAt: number | undefined;
  for (let after = 0; ; ) {
    const page = await ctx.store.listQueue(device, after, 1000);
    for (const e of page) {
      items++;
      bytes += e.bytes;
      oldestAt = Math.min(oldestAt ?? e.at, e.at);
    }
    if (page.length < 1000) break;
    after = page.at(-1)!.seq;
  }
  return {
    items,
    bytes,
    oldestAt: iso(oldestAt),
    first: first.map((e) => ({ seq: e.seq, conversation: e.conversation, kind: e.kind, from: e.fromUser, at: iso(e.at), bytes: e.bytes })),
  };
}

const zHoldAdd = z
  .object({
    user: z.string().min(1).max(320),
    reason: z.string().trim().min(1, 'a hold needs a reason').max(MAX_HOLD_REASON_CHARS),
    until: z.string().datetime({ offset: true }).optional(),
  })
  .strict();

const holdJson = (h: LegalHold, now?: number) => ({
  id: h.id,
  user: h.user,
  reason: h.reason,
  since: new Date(h.since).toISOString(),
  until: iso(h.until),
  releasedAt: iso(h.releasedAt),
  ...(now !== undefined ? { active: holdActive(h, now) } : {}),
});

async function requireUser(ctx: ServerContext, user: UserId) {
  const rec = await ctx.store.getUser(user);
  if (!rec) throw new SealpostError('USER_NOT_FOUND', `no user ${user}`);
  return rec;
}

export function registerAdminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const json = { bodyLimit: limits.maxJsonBodyBytes };

  // ---- users -------------------------------------------------------------------------------------------------
  withAdminToken(app, ctx, (app) => {
    app.post('/v1/admin/users', json, async (req) => {
      const actor = adminOf(req);
      const body = parseUnknown(zAdminUserAdd, req.body, 'body');
      const user = parseUserId(qualify(ctx, body.user));
      if (userDomain(user) !== ctx.domain) {
        throw new SealpostError('INVALID_INPUT', `user: ${user} is not in this server's domain ${ctx.domain}`);
      }
      const { activationCode: code, expiresAt } = await addUser(ctx, actor, user, body.name);
      req.log.info({ user }, 'admin: user added');
      return { user, activationCode: code, expiresAt: new Date(expiresAt).toISOString() };
    });

    app.get('/v1/admin/users', async (req) => {
      const actor = adminOf(req);
      const users = await ctx.store.listUsers();
      await audit(ctx, actor, 'user.list', '*', { count: users.length });
      return {
        users: users.map((u) => ({
          user: u.user,
          name: u.name ?? null,
          status: u.status,
          devices: u.deviceCount,
          createdAt: new Date(u.createdAt).toISOString(),
        })),
      };
    });

    for (const status of ['disable', 'enable'] as const) {
      app.post(`/v1/admin/users/:user/${status}`, json, async (req) => {
        const actor = adminOf(req);
        const { user } = parseUnknown(zUserParams, userParams(ctx, req.params), 'params');
        await requireUser(ctx, user);
        await setUserStatus(ctx, actor, user, status === 'disable' ? 'disabled' : 'active');
        return { user, status: status === 'disable' ? 'disabled' : 'active' };
      });
    }

    /** A new activation code for a user who has not enrolled yet; the old code stops working. */
    app.post('/v1/admin/users/:user/reissue', json, async (req) => {
      const actor = adminOf(req);
      const { user } = parseUnknown(zUserParams, userParams(ctx, req.params), 'params');
      const code = newActivationCode();
      const expiresAt = ctx.clock.now() + (await getPolicy(ctx)).activationCodeTtlMs;
      const result = await ctx.store.reissueActivation(user, { codeHash: activationCodeMac(ctx.secret, code), expiresAt });
      if (result === 'missing') throw new SealpostError('USER_NOT_FOUND', `no user ${user}`);
      if (result === 'enrolled') {
        throw new SealpostError(
          'USER_EXISTS',
          `${user} has enrolled already: a new device is linked from one they have (\`sealpost devices link\`); if they lost every device, \`sealpost admin user reset ${user}\``,
        );
      }
      await audit(ctx, actor, 'user.reissue', user);
      return { user, activationCode: code, expiresAt: new Date(expiresAt).toISOString() };
    });

    /** For a user who lost every device: all devices revoked, the account key retired, a new activation code. */
    app.post('/v1/admin/users/:user/reset', json, async (req) => {
      const actor = adminOf(req);
      const { user } = parseUnknown(zUserParams, userParams(ctx, req.params), 'params');
      const { activationCode: code, expiresAt, devicesRevoked } = await resetUser(ctx, actor, user);
      return { user, activationCode: code, expiresAt: new Date(expiresAt).toISOString(), devicesRevoked };
    });

    // ---- legal holds: one named user each (admin/legal-holds.ts) -------------------------------------------------
    app.post('/v1/admin/holds', json, async (req) => {
      const actor = adminOf(req);
      const body = parseUnknown(zHoldAdd, req.body, 'body');
      const user = parseUserId(qualify(ctx, body.user));
      await requireUser(ctx, user);
      const hold = await placeHold(ctx, actor, user, body.reason, body.until === undefined ? undefined : Date.parse(body.until));
      return holdJson(hold);
    });

    // How many conversations use each MLS suite (policy conversation-suite, docs/post-quantum.md): metadata only.
    app.get('/v1/admin/conversations', async (req) => {
      const actor = adminOf(req);
      const bySuite = await ctx.store.countConversationsBySuite();
      await audit(ctx, actor, 'conversations.count', '*');
      return { bySuite: { classic: bySuite.classic + bySuite.unknown, 'pq-hybrid': bySuite['pq-hybrid'] }, total: bySuite.classic + bySuite.unknown + bySuite['pq-hybrid'] };
    });

    app.post('/v1/admin/archive', json, async (req) => {
      const actor = adminOf(req);
      const { user, activationCode, expiresAt } = await createArchiveAccount(ctx, actor);
      req.log.info({ user }, 'admin: archive account created');
      return { user, activationCode, expiresAt: new Date(expiresAt).toISOString() };
    });

    app.get('/v1/admin/holds', async (req) => {
      const actor = adminOf(req);
      const holds = await currentHolds(ctx);
      await audit(ctx, actor, 'hold.list', '*', { holds: holds.length });
      return { holds: holds.map((h) => holdJson(h.hold, ctx.clock.now())) };
    });

    app.post('/v1/admin/holds/:user/release', json, async (req) => {
      const actor = adminOf(req);
      const { user } = parseUnknown(zUserParams, userParams(ctx, req.params), 'params');
      await requireUser(ctx, user);
      return holdJson(await releaseHold(ctx, actor, user));
    });

    app.get('/v1/admin/users/:user/lookup', async (req) => {
      const actor = adminOf(req);
      const { user } = parseUnknown(zUserParams, userParams(ctx, req.params), 'params');
      const rec = await requireUser(ctx, user);
      const devices = await ctx.store.listDevices(user);
      const held = await ctx.store.lookupUser(user);
      const wipes = await Promise.all(devices.map((d) => ctx.store.getWipe(d.id)));
      await audit(ctx, actor, 'user.lookup', user);
      return {
        note: 'Everything this server holds about the user. Message content, file content and names never reach the server; it holds ciphertext only.',
        user: rec.user,
        name: rec.name ?? null,
        status: rec.status,
        createdAt: iso(rec.createdAt),
        activationCode: held.activationCode
          ? { expiresAt: iso(held.activationCode.expiresAt), usedAt: iso(held.activationCode.usedAt), wrongAttempts: held.activationCode.attempts }
          : null,
        deviceListVersion: held.deviceListVersion ?? null,
        devices: devices.map((d, i) => ({
          id: d.id,
          name: d.name ?? null,
          signatureKey: toBase64Url(d.signatureKey),
          createdAt: iso(d.createdAt),
          lastSeenAt: iso(d.lastSeenAt),
          revokedAt: iso(d.revokedAt),
          wipe: wipes[i] ? { issuedAt: iso(wipes[i]!.issuedAt), confirmedAt: iso(wipes[i]!.confirmedAt) } : null,
        })),
        conversations: held.conversations.map((c) => ({ ...c })),
        conversationCount: held.conversations.length,
        queued: { items: held.queuedItems, bytes: held.queuedBytes },
        files: { count: held.blobs, bytes: held.blobBytes },
      };
    });

    // ---- devices -----------------------------------------------------------------------------------------------
    app.get('/v1/admin/users/:user/devices', async (req) => {
      const actor = adminOf(req);
      const { user } = parseUnknown(zUserParams, userParams(ctx, req.params), 'params');
      await requireUser(ctx, user);
      const devices = await ctx.store.listDevices(user);
      await audit(ctx, actor, 'device.list', user);
      return {
        user,
        devices: devices.map((d) => ({
          id: d.id,
          name: d.name ?? null,
          createdAt: iso(d.createdAt),
          lastSeenAt: iso(d.lastSeenAt),
          status: d.revokedAt ? 'revoked' : 'active',
          revokedAt: iso(d.revokedAt),
        })),
      };
    });

    const deviceOf = async (req: FastifyRequest) => {
      const { user, device } = parseUnknown(zDeviceParams, userParams(ctx, req.params), 'params');
      const rec = await ctx.store.getDevice(device);
      if (!rec || rec.user !== user) throw new SealpostError('DEVICE_NOT_FOUND', `no device ${device} of ${user}`);
      return rec;
    };

    app.post('/v1/admin/users/:user/devices/:device/revoke', json, async (req) => {
      const actor = adminOf(req);
      const d = await deviceOf(req);
      if (!d.revokedAt) await revokeDevices(ctx, d.user, [d.id]);
      await audit(ctx, actor, 'device.revoke', d.user, { device: d.id });
      return { user: d.user, device: d.id, status: 'revoked' };
    });

    /** Revokes the device now and leaves it an org-signed wipe command, delivered when it next connects. */
    app.post('/v1/admin/users/:user/devices/:device/wipe', json, async (req) => {
      const actor = adminOf(req);
      const d = await deviceOf(req);
      await wipeDevices(ctx, d.user, [d]);
      await audit(ctx, actor, 'device.wipe', d.user, { device: d.id });
      return { user: d.user, device: d.id, status: 'wipe-pending' };
    });

    // ---- a device's queue: what waits for it (never payloads), and dropping items that stopped it ---------------
    app.get('/v1/admin/users/:user/devices/:device/queue', async (req) => {
      const actor = adminOf(req);
      const d = await deviceOf(req);
      const summary = await queueSummary(ctx, d.id);
      await audit(ctx, actor, 'device.queue', d.user, { device: d.id });
      return { user: d.user, device: d.id, ...summary };
    });

    app.post('/v1/admin/users/:user/devices/:device/queue/drop', json, async (req) => {
      const actor = adminOf(req);
      const d = await deviceOf(req);
      const body = parseUnknown(zQueueDrop, req.body, 'body');
      let dropped = 0;
      if (body.all) {
        for (let after = 0; ; ) {
          const page = await ctx.store.listQueue(d.id, after, limits.maxAckBatch);
          if (page.length === 0) break;
          dropped += await ctx.store.ack(d.id, page.map((e) => e.seq));
          after = page.at(-1)!.seq;
        }
      } else {
        dropped = await ctx.store.ack(d.id, body.seqs ?? []);
      }
      await audit(ctx, actor, 'device.queue.drop', d.user, { device: d.id, dropped, ...(body.all ? { all: true } : { seqs: body.seqs!.slice(0, 50).join(',') }) });
      return { user: d.user, device: d.id, dropped };
    });

    // ---- policy ------------------------------------------------------------------------------------------------
    app.get('/v1/admin/policy', async (req) => {
      const actor = adminOf(req);
      const policy = await getPolicy(ctx);
      await audit(ctx, actor, 'policy.get', '*');
      return { policy, settings: describePolicy(policy) };
    });

    app.put('/v1/admin/policy', json, async (req) => {
      const actor = adminOf(req);
      const body = parseUnknown(z.object({ change: z.record(z.string(), z.unknown()) }).strict(), req.body, 'body');
      const parsed = zPolicyFields.partial().strict().safeParse(body.change);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new SealpostError('POLICY_INVALID', `policy${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`);
      }
      const change = parsed.data;
      const before = await getPolicy(ctx);
      const policy = await changePolicy(ctx, change);
      const changed = Object.fromEntries(
        Object.entries(change).map(([k, v]) => [k, `${JSON.stringify(before[k as keyof typeof before])} -> ${JSON.stringify(v)}`]),
      );
      await audit(ctx, actor, 'policy.set', Object.keys(change).join(',') || '-', changed);
      // A shorter retention takes effect now, not at the next periodic sweep.
      if ('retentionMaxMs' in change) await applyRetention(ctx);
      return { policy, settings: describePolicy(policy) };
    });

    // ---- audit log ---------------------------------------------------------------------------------------------
    app.get('/v1/admin/audit', async (req) => {
      const q = parseUnknown(zAuditQuery, req.query, 'query');
      const entries = await ctx.store.listAudit(q.after, q.limit);
      return {
        entries: entries.map((e) => ({
          seq: e.seq,
          at: new Date(e.at).toISOString(),
          atMs: e.at,
          actor: e.actor,
          action: e.action,
          target: e.target,
          details: e.details,
          prevHash: hex(e.prevHash),
          hash: hex(e.hash),
        })),
      };
    });

    // ---- key transparency after a restore ------------------------------------------------------------------------
    /**
     * After a restore from a backup: an organisation-signed statement that the log restarts from its current head,
     * which devices that verified a newer head accept (keeping every key they knew), and queue seqs moved past any
     * issued before, so no device takes a new message for one it processed. Only `root`; audited.
     */
    app.post('/v1/admin/kt/restart', json, async (req) => {
      const actor = adminOf(req);
      if (actor !== 'root') throw new SealpostError('FORBIDDEN', 'only the root token declares a key-transparency restart');
      const { reason } = parseUnknown(z.object({ reason: z.string().trim().min(1).max(500) }).strict(), req.body, 'body');
      const kt = ctx.kt!;
      await kt.catchUp();
      const head = kt.treeHead;
      if (!head) throw new SealpostError('INTERNAL', 'the key-transparency log has no head yet');
      const at = ctx.clock.now();
      await ctx.store.advanceQueueSeq(at * 1000);
      const signed = await signKtRestart(ctx.cs.signature, ctx.org.privateKey, { v: 1, domain: ctx.domain, at, reason, head: { size: head.size, root: head.root } });
      const kept = JSON.parse((await ctx.store.getMeta(KT_RESTARTS_META)) ?? '[]') as { body: string; signature: string }[];
      kept.push({ body: toBase64Url(signed.body), signature: toBase64Url(signed.signature) });
      await ctx.store.setMeta(KT_RESTARTS_META, JSON.stringify(kept.slice(-20)));
      await audit(ctx, actor, 'kt.restart', ctx.domain, { reason, headSize: head.size });
      req.log.warn({ headSize: head.size }, 'key-transparency restart declared');
      return { at: new Date(at).toISOString(), reason, head: { size: head.size, root: toBase64Url(head.root) } };
    });

    // ---- admin credentials -------------------------------------------------------------------------------------
    app.post('/v1/admin/tokens', json, async (req) => {
      const actor = adminOf(req);
      const { name, scopes } = parseUnknown(z.object({ name: zTokenName, scopes: z.array(z.enum(adminScopes)).min(1).max(adminScopes.length) }).strict(), req.body, 'body');
      if (name === 'root') throw new SealpostError('ADMIN_TOKEN_EXISTS', 'the name root is the bootstrap token');
      // A named token cannot make a stronger one than itself.
      if (actor !== 'root') {
        const own = (await ctx.store.listAdminTokens()).find((t) => t.name === actor)?.scopes ?? [];
        const more = scopes.filter((s) => !own.includes(s));
        if (more.length > 0) throw new SealpostError('FORBIDDEN', `admin token ${actor} cannot grant scopes it does not have: ${more.join(', ')}`);
      }
      const token = newToken();
      const unique = [...new Set(scopes)];
      if (!(await ctx.store.addAdminToken(name, sha256(token), ctx.clock.now(), unique))) {
        throw new SealpostError('ADMIN_TOKEN_EXISTS', `an admin token named ${name} exists (names are never reused)`);
      }
      await audit(ctx, actor, 'admin-token.create', name, { scopes: unique.join(',') });
      return { name, token, scopes: unique };
    });

    /** A new root token; the old one stops working at once, on every node (its hash is in the store). */
    app.post('/v1/admin/tokens/root/rotate', json, async (req) => {
      const actor = adminOf(req);
      if (actor !== 'root') throw new SealpostError('FORBIDDEN', 'only the root token can rotate itself');
      const token = newToken();
      await ctx.store.setMeta(ROOT_TOKEN_META, Buffer.from(sha256(token)).toString('hex'));
      await audit(ctx, actor, 'admin-token.rotate', 'root');
      ctx.onRootTokenRotated?.(token);
      return { name: 'root', token };
    });

    app.get('/v1/admin/tokens', async (req) => {
      const actor = adminOf(req);
      const tokens = await ctx.store.listAdminTokens();
      await audit(ctx, actor, 'admin-token.list', '*');
      return { tokens: tokens.map((t) => ({ name: t.name, scopes: t.scopes, createdAt: iso(t.createdAt), revokedAt: iso(t.revokedAt) })) };
    });

    app.post('/v1/admin/tokens/:name/revoke', json, async (req) => {
      const actor = adminOf(req);
      const { name } = parseUnknown(z.object({ name: zTokenName }).strict(), req.params, 'params');
      if (!(await ctx.store.revokeAdminToken(name, ctx.clock.now()))) throw new SealpostError('ADMIN_TOKEN_INVALID', `no active admin token named ${name}`);
      await audit(ctx, actor, 'admin-token.revoke', name);
      return { name, status: 'revoked' };
    });
  });
}
