// Legal holds (design.md, Legal hold): an admin places a hold on one user — never on all — and releases it. Each is
// an organisation-signed statement, stored as signed, recorded in the audit log, and published in the held user's
// account record in the key-transparency log, so the user's own devices and everyone who talks to them can see it
// and check its signature. The server signs with the organisation key it holds; what keeps a hold honest is that it
// cannot be hidden.
//
// The archive (docs/legal-hold.md) is an account of its own, `sealpost-archive@<domain>`, enrolled by the archive
// service the organisation runs (`sealpost archive`); its keys exist only there. The server cannot add it to any
// conversation: after each hold and release it queues the statement to the members of the held user's
// conversations, and their devices add or remove the archive by an ordinary commit once they have checked the hold
// in the key-transparency log.
import { randomBytes } from 'node:crypto';
import {
  ORGANISATION_DEVICE,
  SealpostError,
  archiveAccountOf,
  decodeLegalHold,
  encodeSignedNotice,
  holdActive,
  isArchiveAccount,
  newMessageId,
  parseUserId,
  signLegalHold,
  toBase64Url,
  type LegalHold,
  type SignedLegalHold,
  type UserId,
} from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { HoldStatement } from '../store/store.js';
import { audit } from './audit.js';
import { addUser } from './users.js';

/** `sealpost admin archive create`: the organisation's archive account, with a one-time activation code for the archive service. */
export async function createArchiveAccount(ctx: ServerContext, actor: string): Promise<{ user: UserId; activationCode: string; expiresAt: number }> {
  const user = archiveAccountOf(ctx.domain);
  return { user, ...(await addUser(ctx, actor, user, 'Legal-hold archive', {}, { archive: true })) };
}

/** A hold records nothing without an archive device to add: say so before publishing one. */
async function requireArchiveReady(ctx: ServerContext): Promise<void> {
  const user = archiveAccountOf(ctx.domain);
  const rec = await ctx.store.getUser(user);
  const devices = rec ? (await ctx.store.listDevices(user)).filter((d) => !d.revokedAt) : [];
  if (!rec || rec.status !== 'active' || devices.length === 0) {
    throw new SealpostError(
      'ARCHIVE_NOT_READY',
      `no archive service is enrolled (${user}${rec ? (rec.status !== 'active' ? ' is disabled' : ' has no device yet') : ' does not exist'}): ` +
        '`sealpost admin archive create`, then `sealpost archive --server URL --data DIR --code CODE` where the records are kept; a hold records nothing until then',
    );
  }
}

/** The statement to every device in a conversation with the held user: their devices add or remove the archive. */
async function announce(ctx: ServerContext, user: UserId, signed: SignedLegalHold): Promise<void> {
  const deliveries = await ctx.store.appendHoldNotices({
    user,
    id: newMessageId(),
    payload: encodeSignedNotice(signed),
    sender: { device: ORGANISATION_DEVICE, user: parseUserId(`organisation@${ctx.domain}`) },
    now: ctx.clock.now(),
  });
  ctx.bus.publish(deliveries);
}

/** Each hold with its latest statement (made, or released), oldest first. */
export async function currentHolds(ctx: ServerContext, user?: UserId): Promise<{ hold: LegalHold; statement: HoldStatement }[]> {
  const latest = new Map<string, HoldStatement>();
  for (const s of await ctx.store.holdStatements(user)) latest.set(s.holdId, s);
  return [...latest.values()].map((statement) => ({ hold: decodeLegalHold(statement.body), statement }));
}

export async function placeHold(ctx: ServerContext, actor: string, user: UserId, reason: string, until: number | undefined): Promise<LegalHold> {
  const now = ctx.clock.now();
  if (isArchiveAccount(user)) throw new SealpostError('INVALID_INPUT', `user: ${user} is the archive account itself`);
  if (until !== undefined && until <= now) throw new SealpostError('INVALID_INPUT', `--until: ${new Date(until).toISOString()} has passed`);
  if ((await currentHolds(ctx, user)).some((h) => holdActive(h.hold, now))) {
    throw new SealpostError('HOLD_EXISTS', `${user} is already on hold (sealpost admin hold list); release it first to place another`);
  }
  await requireArchiveReady(ctx);
  const hold: LegalHold = { id: `h_${toBase64Url(randomBytes(12))}`, user, reason, since: now, ...(until !== undefined ? { until } : {}) };
  const signed = await signLegalHold(ctx.cs.signature, ctx.org.privateKey, hold);
  await ctx.store.putHoldStatement({ holdId: hold.id, user, released: false, body: signed.body, signature: signed.signature, at: now });
  await audit(ctx, actor, 'hold.add', user, { hold: hold.id, ...(until !== undefined ? { until: new Date(until).toISOString() } : {}) });
  // Published in the log before anyone is asked to act on it: members check it there.
  await ctx.kt?.publish();
  await announce(ctx, user, signed);
  return hold;
}

export async function releaseHold(ctx: ServerContext, actor: string, user: UserId): Promise<LegalHold> {
  const now = ctx.clock.now();
  const active = (await currentHolds(ctx, user)).find((h) => holdActive(h.hold, now));
  if (!active) throw new SealpostError('HOLD_NOT_FOUND', `${user} is not on hold`);
  const released: LegalHold = { ...active.hold, releasedAt: now };
  const signed = await signLegalHold(ctx.cs.signature, ctx.org.privateKey, released);
  await ctx.store.putHoldStatement({ holdId: released.id, user, released: true, body: signed.body, signature: signed.signature, at: now });
  await audit(ctx, actor, 'hold.release', user, { hold: released.id });
  await ctx.kt?.publish();
  await announce(ctx, user, signed);
  return released;
}
