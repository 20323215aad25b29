// HTTP routes: admin, enrollment, device auth, directory, key packages, conversations. Every body has a size
// limit and a strict schema; every handler takes validated, branded values only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  VERSION,
  SealpostError,
  challengeMessage,
  signOrgCommand,
  decodeDeviceList,
  fromBase64Url,
  limits,
  parseUnknown,
  readKeyPackage,
  signedDeviceListFromJson,
  signedDeviceListToJson,
  toBase64Url,
  verifyDeviceList,
  verifyLabelled,
  zChallengeRequest,
  zConversationId,
  zCreateConversation,
  suiteNames,
  zEnrollRequest,
  zKeyPackageClaim,
  zKeyPackageUpload,
  zSessionRequest,
  zUserId,
  type DeviceId,
  type UserId,
} from '@sealpost/protocol';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { finishSso, startSso } from '../auth/sso.js';
import { sessionOf, withDeviceSession } from '../auth/device-session.js';
import { checkKeyPackages } from '../directory/key-packages.js';
import { addressLimit } from './address-limit.js';
import { b64 } from './fields.js';
import { CHALLENGE_TTL_MS, SESSION_TTL_MS, legacyActivationCodeHash, newToken, sha256 } from '../auth/tokens.js';
import { activationCodeMac } from '../server-secret.js';
import { getPolicy } from '../admin/policy-store.js';
import type { NewKeyPackage } from '../store/store.js';


/** An organisation-signed reason for refusing a device that proved its key (it checks the signature itself). */
async function refusal(ctx: ServerContext, kind: 'remove-device' | 'disable-user', device: DeviceId, user: UserId) {
  const signed = await signOrgCommand(ctx.cs.signature, ctx.org.privateKey, { kind, device, user, issuedAt: ctx.clock.now() });
  return { kind, command: toBase64Url(signed.body), signature: toBase64Url(signed.signature) };
}

export function registerRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const json = { bodyLimit: limits.maxJsonBodyBytes };
  const byAddress = addressLimit(ctx);
  const withKeyPackages = { bodyLimit: limits.maxKeyPackageBodyBytes };

  // What a device needs before it trusts this server with anything: the organisation key it pins (wipe commands
  // and removal notices must carry its signature) and the policy a client enforces itself.
  app.get('/v1/info', async () => {
    const policy = await getPolicy(ctx);
    return {
      name: 'sealpost',
      version: VERSION,
      domain: ctx.domain,
      orgKey: toBase64Url(ctx.org.publicKey),
      kt: { signatureKey: toBase64Url(ctx.ktKeys.signing.publicKey), vrfKey: toBase64Url(ctx.ktKeys.vrf.publicKey), epochMs: ctx.ktEpochMs },
      policy: {
        requirePassphrase: policy.requirePassphrase,
        retentionDefaultMs: policy.retentionDefaultMs,
        retentionMaxMs: policy.retentionMaxMs,
        maxAttachmentBytes: policy.maxAttachmentBytes,
        maxDevicesPerUser: policy.maxDevicesPerUser,
        ktAuditors: policy.ktAuditors,
        ktMinAuditorSignatures: policy.ktMinAuditorSignatures,
        keyUpdateIntervalMs: policy.keyUpdateIntervalMs,
        keyChangeContestMs: policy.keyChangeContestMs,
        outsideMail: policy.outsideMail,
        conversationSuite: policy.conversationSuite,
        // Whether people can sign in with the organisation's account to enroll (the web app shows the button).
        sso: Boolean(policy.ssoIssuer && policy.ssoClientId && ctx.ssoClientSecret),
      },
    };
  });

  // Liveness: the process serves requests. Readiness: it can also reach its store (a load balancer's check).
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (await ctx.store.ping()) return { status: 'ready' };
    return reply.status(503).send({ error: { code: 'SERVER_UNREACHABLE', message: 'the store does not answer' } });
  });

  // ---- sign-in with the organisation's identity provider, for a first device (auth/sso.ts) ------------------------
  app.post('/v1/sso/start', { ...json, onRequest: byAddress }, async (req) => {
    const { redirectUri } = parseUnknown(z.object({ redirectUri: z.string().max(300) }).strict(), req.body, 'body');
    // The web app asks from a page of this server: its Origin names the host the request came to.
    const hostOf = (o: string) => URL.canParse(o) ? new URL(o).host : undefined;
    const origin = typeof req.headers.origin === 'string' && req.headers.host && hostOf(req.headers.origin) === req.headers.host ? req.headers.origin : undefined;
    const { authorizationUrl, expiresAt } = await startSso(ctx, redirectUri, origin);
    return { authorizationUrl, expiresAt: new Date(expiresAt).toISOString() };
  });
  app.post('/v1/sso/finish', { ...json, onRequest: byAddress }, async (req) => {
    const { callbackUrl } = parseUnknown(z.object({ callbackUrl: z.string().max(8192) }).strict(), req.body, 'body');
    // Nothing here can be guessed (the state is sealed, the code is the provider's); the per-address request limit
    // keeps anyone from making this server call the provider in a flood.
    const { user, activationCode, expiresAt } = await finishSso(ctx, callbackUrl);
    return { user, activationCode, expiresAt: new Date(expiresAt).toISOString() };
  });

  // ---- enrollment --------------------------------------------------------------------------------------------
  app.post('/v1/enroll', { ...withKeyPackages, onRequest: byAddress }, async (req) => {
    const body = parseUnknown(zEnrollRequest, req.body, 'body');
    // Cheap checks first: the code (one hash), then one device-list signature, and only then up to 101 KeyPackages.
    ctx.rateLimits.wrongActivationCodes.admit(req.ip);
    const stored = await ctx.store.activationCodeHash(body.user);
    const matches = (h: Uint8Array) => stored !== undefined && stored.length === h.length && timingSafeEqual(stored, h);
    // Codes issued before the server secret were kept as plain SHA-256; they expire within days.
    const mac = activationCodeMac(ctx.secret, body.code);
    const codeHash = matches(mac) ? mac : legacyActivationCodeHash(body.code);
    const wrongCode = () => {
      ctx.rateLimits.wrongActivationCodes.charge(req.ip);
      // One answer for an unknown user, a used code and a wrong one.
      return new SealpostError(
        'ACTIVATION_CODE_INVALID',
        'activation code is wrong, already used, or not issued for this user: check it (and the user name), or ask your admin for a new one (`sealpost admin user reissue USER`)',
      );
    };
    if (!matches(codeHash)) {
      if (stored) await ctx.store.countWrongActivation(body.user);
      throw wrongCode();
    }
    const signed = signedDeviceListFromJson(body.deviceList);
    const verdict = await verifyDeviceList(ctx.cs.signature, signed, { user: body.user });
    if (verdict.kind !== 'ok') throw new SealpostError('DEVICE_LIST_INVALID', `deviceList: ${verdict.reason}`);
    const entry = verdict.list.devices.find((d) => d.id === body.device);
    if (!entry || verdict.list.devices.length !== 1) {
      throw new SealpostError('DEVICE_LIST_INVALID', 'deviceList: the first device list must hold exactly the enrolling device');
    }
    const keyPackages = await checkKeyPackages(ctx, body.user, body.device, entry.signatureKey, body.keyPackages);
    const [lastResort] = await checkKeyPackages(ctx, body.user, body.device, entry.signatureKey, [body.lastResortKeyPackage]);
    const result = await ctx.store.enroll({
      user: body.user,
      codeHash,
      now: ctx.clock.now(),
      maxAttempts: limits.maxActivationAttempts,
      device: { id: body.device, name: body.deviceName, signatureKey: entry.signatureKey },
      deviceList: { version: verdict.list.version, accountKey: verdict.list.accountKey, body: signed.body, signature: signed.signature },
      keyPackages,
      lastResort: lastResort!,
    });
    // Past the code check, the holder of the right code is told exactly what is wrong.
    switch (result) {
      case 'ok':
        req.log.info({ user: body.user, device: body.device }, 'device enrolled');
        return { user: body.user, device: body.device, domain: ctx.domain };
      case 'invalid':
        throw wrongCode(); // used meanwhile by a concurrent enrollment
      case 'expired':
        throw new SealpostError('ACTIVATION_CODE_EXPIRED', 'activation code has expired; ask an admin for a new one');
      case 'exhausted':
        throw new SealpostError('ACTIVATION_ATTEMPTS_EXCEEDED', 'too many wrong attempts were made with this activation code; ask an admin for a new one');
      case 'user-disabled':
        throw new SealpostError('USER_DISABLED', 'user is disabled');
      case 'device-exists':
        throw new SealpostError('DEVICE_EXISTS', 'device id already registered');
    }
  });

  // ---- device auth -------------------------------------------------------------------------------------------
  app.post('/v1/auth/challenge', { ...json, onRequest: byAddress }, async (req) => {
    const { device } = parseUnknown(zChallengeRequest, req.body, 'body');
    const challenge = new Uint8Array(randomBytes(32));
    // Issued for unknown devices too, so the answer does not reveal which device ids exist.
    await ctx.store.putChallenge(device, challenge, ctx.clock.now() + CHALLENGE_TTL_MS);
    return { challenge: toBase64Url(challenge), domain: ctx.domain };
  });

  app.post('/v1/auth/session', { ...json, onRequest: byAddress }, async (req) => {
    const body = parseUnknown(zSessionRequest, req.body, 'body');
    const challenge = b64(body.challenge, 'challenge');
    const signature = b64(body.signature, 'signature');
    const fail = () => new SealpostError('AUTH_FAILED', 'challenge signature does not verify for this device');
    if (!(await ctx.store.takeChallenge(body.device, challenge, ctx.clock.now()))) {
      throw new SealpostError('AUTH_FAILED', 'challenge is unknown, used or expired');
    }
    const device = await ctx.store.getDevice(body.device);
    if (!device) throw fail();
    const ok = await verifyLabelled(ctx.cs.signature, device.signatureKey, 'auth-challenge', challengeMessage(ctx.domain, body.device, challenge), signature);
    if (!ok) throw fail();
    if (device.revokedAt !== undefined) {
      // The device proved it holds its key. If a wipe is pending, this is how it learns of it: it checks the
      // organisation's signature itself, erases, and confirms at /v1/wipe/confirm.
      const wipe = await ctx.store.getWipe(device.id);
      if (wipe && wipe.confirmedAt === undefined) {
        req.log.info({ device: device.id }, 'wipe command delivered');
        return { wipe: { command: toBase64Url(wipe.command), signature: toBase64Url(wipe.signature) } };
      }
      // Said with the organisation's signature, so the device can tell a real revocation from a lock-out.
      return { refused: await refusal(ctx, 'remove-device', device.id, device.user) };
    }
    const user = await ctx.store.getUser(device.user);
    if (user?.status !== 'active') return { refused: await refusal(ctx, 'disable-user', device.id, device.user) };
    const token = newToken();
    const expiresAt = ctx.clock.now() + SESSION_TTL_MS;
    await ctx.store.createSession(sha256(token), body.device, expiresAt);
    await ctx.store.touchDevice(body.device, ctx.clock.now());
    return { token, expiresAt: new Date(expiresAt).toISOString(), user: device.user, device: device.id };
  });

  // ---- directory ---------------------------------------------------------------------------------------------
  withDeviceSession(app, ctx, (app) => {
    app.get('/v1/users/:user/devices', async (req) => {
      const user = parseUnknown(z.object({ user: zUserId }).strict(), req.params, 'params').user;
      const list = await ctx.store.getDeviceList(user);
      if (!list) throw new SealpostError('USER_NOT_FOUND', `no enrolled user ${user}`);
      // Devices an admin revoked stay in the account-signed list until one of the user's devices signs a new one;
      // clients refuse them meanwhile. (The server can take trust away this way, never add it.)
      const revoked = (await ctx.store.listDevices(user)).filter((d) => d.revokedAt !== undefined).map((d) => d.id);
      const { history } = parseUnknown(z.object({ history: z.enum(['1']).optional() }).strict(), req.query, 'query');
      const earlier = history ? (await ctx.store.deviceListHistory(user, 100)).map(signedDeviceListToJson) : undefined;
      // The organisation-signed legal-hold statements on this user, newest last: the latest is what the user's account
      // record in the key-transparency log commits to; clients check both (admin/legal-holds.ts).
      const holds = (await ctx.store.holdStatements(user)).slice(-100).map((h) => ({ body: toBase64Url(h.body), signature: toBase64Url(h.signature) }));
      return { user, deviceList: signedDeviceListToJson(list), revoked, ...(earlier ? { history: earlier } : {}), ...(holds.length > 0 ? { holds } : {}) };
    });

    // ---- key packages ------------------------------------------------------------------------------------------
    app.post('/v1/keypackages', withKeyPackages, async (req) => {
      const me = sessionOf(req);
      const body = parseUnknown(zKeyPackageUpload, req.body, 'body');
      const device = await ctx.store.getDevice(me.device);
      if (!device) throw new SealpostError('DEVICE_NOT_FOUND', 'device not found');
      const kps = await checkKeyPackages(ctx, me.user, me.device, device.signatureKey, body.keyPackages);
      const lastResort = body.lastResortKeyPackage
        ? (await checkKeyPackages(ctx, me.user, me.device, device.signatureKey, [body.lastResortKeyPackage]))[0]
        : undefined;
      const count = await ctx.store.addKeyPackages(me.device, kps, lastResort, limits.maxKeyPackagesPerDevice);
      if (count === undefined) {
        throw new SealpostError('TOO_MANY_KEY_PACKAGES', `a device may store at most ${limits.maxKeyPackagesPerDevice} KeyPackages`);
      }
      return { count };
    });

    app.get('/v1/keypackages/count', async (req) => {
      const me = sessionOf(req);
      const { suite } = parseUnknown(z.object({ suite: z.enum(suiteNames).optional() }).strict(), req.query, 'query');
      return { count: await ctx.store.countKeyPackages(me.device, suite ?? 'classic') };
    });

    app.post('/v1/keypackages/claim', json, async (req) => {
      const me = sessionOf(req);
      const body = parseUnknown(zKeyPackageClaim, req.body, 'body');
      const targets: DeviceId[] = [];
      for (const user of body.users) {
        const list = await ctx.store.getDeviceList(user);
        if (!list) throw new SealpostError('USER_NOT_FOUND', `no enrolled user ${user}`);
        targets.push(...decodeDeviceList(list.body).devices.map((d) => d.id));
      }
      // A budget per claiming device, and per claimer and target: past a few one-time KeyPackages of one device, the
      // claimer gets its last-resort one, so no device can drain another's one-time stock.
      ctx.rateLimits.keyPackageClaims.take(me.device, Math.max(1, targets.length));
      const lastResortOnly = new Set(targets.filter((t) => !ctx.rateLimits.oneTimeKeyPackagesPerTarget.tryTake(`${me.device}>${t}`)));
      const suite = body.suite ?? 'classic';
      const claimed = await ctx.store.claimKeyPackages(body.users, [me.device, ...(body.exclude ?? [])], lastResortOnly, suite);
      const missing = claimed.filter((c) => !c.data);
      if (suite === 'classic' && missing[0]) throw new SealpostError('NO_KEY_PACKAGE', `device ${missing[0].device} of ${missing[0].user} has no KeyPackage left`);
      return {
        keyPackages: claimed.flatMap((c) => (c.data ? [{ user: c.user, device: c.device, keyPackage: toBase64Url(c.data) }] : [])),
        // Every device keeps a last-resort KeyPackage of each suite it can do: none at all means it cannot do this one.
        // The client decides (a device in the user's signed list: SUITE_UNSUPPORTED; one that is not: ignored).
        ...(missing.length > 0 ? { missing: missing.map((c) => ({ user: c.user, device: c.device })) } : {}),
      };
    });

    // ---- conversations -----------------------------------------------------------------------------------------
    app.post('/v1/conversations', json, async (req) => {
      const me = sessionOf(req);
      const { id, suite } = parseUnknown(zCreateConversation, req.body, 'body');
      if (!(await ctx.store.createConversation(id, me.device, ctx.clock.now(), suite))) {
        throw new SealpostError('CONVERSATION_EXISTS', `conversation ${id} already exists`);
      }
      return { id, epoch: 0 };
    });

    app.get('/v1/conversations/:id', async (req) => {
      const me = sessionOf(req);
      const { id } = parseUnknown(z.object({ id: zConversationId }).strict(), req.params, 'params');
      const conv = await ctx.store.getConversation(id);
      if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', `no conversation ${id}`);
      if (!conv.members.includes(me.device)) throw new SealpostError('NOT_A_MEMBER', 'this device is not a member of the conversation');
      return { id, epoch: conv.epoch, members: conv.members };
    });
  });

}
