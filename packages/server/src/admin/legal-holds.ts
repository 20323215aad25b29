// Legal holds (design.md, Legal hold): an admin places a hold on one user — never on all — and releases it. Each is
// an organisation-signed statement, stored as signed, recorded in the audit log, and published in the held user's
// account record in the key-transparency log, so the user's own devices and everyone who talks to them can see it
// and check its signature. The server signs with the organisation key it holds; what keeps a hold honest is that it
// cannot be hidden.
import { randomBytes } from 'node:crypto';
import { SealpostError, decodeLegalHold, holdActive, signLegalHold, toBase64Url, type LegalHold, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { HoldStatement } from '../store/store.js';
import { audit } from './audit.js';

/** Each hold with its latest statement (made, or released), oldest first. */
export async function currentHolds(ctx: ServerContext, user?: UserId): Promise<{ hold: LegalHold; statement: HoldStatement }[]> {
  const latest = new Map<string, HoldStatement>();
  for (const s of await ctx.store.holdStatements(user)) latest.set(s.holdId, s);
  return [...latest.values()].map((statement) => ({ hold: decodeLegalHold(statement.body), statement }));
}

export async function placeHold(ctx: ServerContext, actor: string, user: UserId, reason: string, until: number | undefined): Promise<LegalHold> {
  const now = ctx.clock.now();
  if (until !== undefined && until <= now) throw new SealpostError('INVALID_INPUT', `--until: ${new Date(until).toISOString()} has passed`);
  if ((await currentHolds(ctx, user)).some((h) => holdActive(h.hold, now))) {
    throw new SealpostError('HOLD_EXISTS', `${user} is already on hold (sealpost admin hold list); release it first to place another`);
  }
  const hold: LegalHold = { id: `h_${toBase64Url(randomBytes(12))}`, user, reason, since: now, ...(until !== undefined ? { until } : {}) };
  const signed = await signLegalHold(ctx.cs.signature, ctx.org.privateKey, hold);
  await ctx.store.putHoldStatement({ holdId: hold.id, user, released: false, body: signed.body, signature: signed.signature, at: now });
  await audit(ctx, actor, 'hold.add', user, { hold: hold.id, ...(until !== undefined ? { until: new Date(until).toISOString() } : {}) });
  await ctx.kt?.publish();
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
  return released;
}
