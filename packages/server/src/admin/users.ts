// A user's life as the organisation runs it — added, disabled and enabled, reset, deprovisioned — written once for
// every way an admin reaches it: the admin API (`sealpost admin user …`) and SCIM provisioning from the
// organisation's identity provider (scim/). Each step is in the audit log under the admin credential that asked.
import { SealpostError, isArchiveAccount, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { newActivationCode } from '../auth/tokens.js';
import { activationCodeMac } from '../server-secret.js';
import { audit } from './audit.js';
import { getPolicy } from './policy-store.js';
import { publishRevocation, revocationsFor, revokeDevices, wipeDevices } from './revoke.js';

/**
 * A new user with a one-time activation code; USER_EXISTS when the id is taken. The archive account's name is
 * reserved for `sealpost admin archive create` (admin/legal-holds.ts), which passes `archive`.
 */
export async function addUser(
  ctx: ServerContext,
  actor: string,
  user: UserId,
  name: string | undefined,
  details: Record<string, string> = {},
  opts: { archive?: boolean } = {},
): Promise<{ activationCode: string; expiresAt: number }> {
  if (isArchiveAccount(user) && !opts.archive) {
    throw new SealpostError('INVALID_INPUT', `user: ${user} is the name of the organisation's archive account; create it with \`sealpost admin archive create\``);
  }
  const code = newActivationCode();
  const now = ctx.clock.now();
  const expiresAt = now + (await getPolicy(ctx)).activationCodeTtlMs;
  const created = await ctx.store.createUser({ user, name, now }, { codeHash: activationCodeMac(ctx.secret, code), expiresAt });
  if (!created) {
    throw new SealpostError(
      'USER_EXISTS',
      `user ${user} already exists; for a new activation code: \`sealpost admin user reissue ${user}\` (not enrolled yet) or \`sealpost admin user reset ${user}\` (every device lost)`,
    );
  }
  await audit(ctx, actor, opts.archive ? 'archive.create' : 'user.add', user, details);
  ctx.kt?.prepare(user); // the user's first key-transparency index, ahead of enrollment
  return { activationCode: code, expiresAt };
}

/**
 * Disable or enable a user. Disabled: sessions die with the status (getSession checks it) and open connections close
 * now; with `revoke`, every device is revoked too (removed from every conversation by the usual notice) — what
 * deprovisioning a leaver does.
 */
export async function setUserStatus(
  ctx: ServerContext,
  actor: string,
  user: UserId,
  status: 'active' | 'disabled',
  opts: { revoke?: boolean; wipe?: boolean; details?: Record<string, string | number> } = {},
): Promise<{ devicesRevoked: number; devicesWiped: number }> {
  if (!(await ctx.store.setUserStatus(user, status))) throw new SealpostError('USER_NOT_FOUND', `no user ${user}`);
  let devicesRevoked = 0;
  let devicesWiped = 0;
  if (status === 'disabled') {
    const all = (await ctx.store.listDevices(user)).filter((d) => !d.revokedAt);
    const devices = all.map((d) => d.id);
    if (opts.wipe && all.length > 0) {
      // Each device also erases what it holds when it next connects (an organisation-signed wipe command).
      await wipeDevices(ctx, user, all);
      devicesRevoked = devicesWiped = all.length;
    } else if (opts.revoke && devices.length > 0) {
      await revokeDevices(ctx, user, devices);
      devicesRevoked = devices.length;
    } else {
      publishRevocation(ctx, devices, []);
    }
  }
  await audit(ctx, actor, status === 'disabled' ? 'user.disable' : 'user.enable', user, {
    ...(opts.details ?? {}),
    ...(devicesRevoked > 0 ? { devicesRevoked } : {}),
    ...(devicesWiped > 0 ? { devicesWiped } : {}),
  });
  return { devicesRevoked, devicesWiped };
}

/** For a user who lost every device (or who leaves for good): all devices revoked, the account key retired, a new activation code. */
export async function resetUser(ctx: ServerContext, actor: string, user: UserId, details: Record<string, string> = {}): Promise<{ activationCode: string; expiresAt: number; devicesRevoked: string[] }> {
  if (!(await ctx.store.getUser(user))) throw new SealpostError('USER_NOT_FOUND', `no user ${user}`);
  const devices = (await ctx.store.listDevices(user)).filter((d) => !d.revokedAt).map((d) => d.id);
  const revocations = await revocationsFor(ctx, user, devices);
  const code = newActivationCode();
  const expiresAt = ctx.clock.now() + (await getPolicy(ctx)).activationCodeTtlMs;
  const deliveries = await ctx.store.resetUser(user, revocations, { codeHash: activationCodeMac(ctx.secret, code), expiresAt }, ctx.clock.now());
  publishRevocation(ctx, devices, deliveries);
  await audit(ctx, actor, 'user.reset', user, { devicesRevoked: devices.length, ...details });
  // The retirement goes into the key-transparency log now, in an epoch of its own, before the user can enroll a new
  // device: the log then shows every reset as one (and the log refuses a new key that follows no retirement).
  await ctx.kt?.publish();
  return { activationCode: code, expiresAt, devicesRevoked: devices };
}
