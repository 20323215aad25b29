// Which devices this client trusts: a device is trusted only if it is in its user's device list signed by the
// user's account key, and the server has not revoked it. Account keys are pinned on first use. A list signed by a
// new account key is accepted only when the key-transparency log shows an admin reset before it (a version that
// retires the old key), after a contest period in which the owner's devices can object (or at once when the user
// compared the new safety number), with a warning that the safety number changed; the change is recorded.
import {
  DEFAULT_KEY_CHANGE_CONTEST_MS,
  SealpostError,
  bytesEqual,
  formatSafetyNumber,
  safetyNumber,
  signedDeviceListFromJson,
  verifyDeviceList,
  type DeviceId,
  type DeviceList,
  type DeviceIdentity,
  type UserId,
  type LegalHold,
} from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { HttpApi } from './http-api.js';
import type { ProfileStorage } from './profile-storage.js';
import { holdsFromJson, type KtVerifier } from './kt-verifier.js';
import type { ContestPeriodState } from './contest-period.js';

/**
 * A contact's new account key that is still in its contest period: nothing is encrypted to it yet. Says when it
 * will be used and how to use it at once (compare the new safety number).
 */
export class KeyChangePending extends SealpostError {
  constructor(
    readonly user: UserId,
    readonly until: number,
    readonly retiredAt: number,
    readonly accountKey: Uint8Array,
  ) {
    super(
      'KEY_CHANGE_PENDING',
      `${user}'s account key changed (an admin reset: the key-transparency log retires the old key at version ${retiredAt}); ` +
        `the new key is not used until ${new Date(until).toISOString()}, so that ${user}'s own devices can object if they did not make it — ` +
        `or now, if you compare the new safety number with ${user}: sealpost verify ${user} --confirm NUMBER`,
    );
  }
}

export class DeviceTrust {
  private readonly cache = new Map<UserId, { list: DeviceList; revoked: Set<string>; hold?: LegalHold }>();

  constructor(
    private readonly cs: CiphersuiteImpl,
    private readonly api: HttpApi,
    private readonly store: ProfileStorage,
    private readonly self: { user: UserId; accountKey: () => Uint8Array | undefined },
    private readonly warn: (m: string) => void,
    private readonly kt: KtVerifier,
  ) {}

  /** The verified device list of `user` (devices the server revoked left out), fetched once per session unless `refresh`. */
  async deviceList(user: UserId, refresh = false): Promise<DeviceList> {
    const cached = this.cache.get(user);
    if (cached && !refresh) return cached.list;
    const res = await this.api.request<{ deviceList: { body: string; signature: string }; revoked?: DeviceId[]; holds?: { body: string; signature: string }[] }>(
      'GET',
      `/v1/users/${encodeURIComponent(user)}/devices`,
    );
    const holds = holdsFromJson(res.holds);
    const signed = signedDeviceListFromJson(res.deviceList);
    const pinned = this.store.getKnownUser(user);
    let verdict = await verifyDeviceList(this.cs.signature, signed, { user, ...(pinned ? { pinned } : {}) });
    if (verdict.kind === 'rejected' && verdict.reason === 'account-key-changed' && pinned) {
      // Only a new key the key-transparency log holds is considered at all.
      const fresh = await verifyDeviceList(this.cs.signature, signed, { user });
      if (fresh.kind === 'ok') await this.kt.checkDeviceList(user, signed.body, fresh.list, holds);
      if (user === this.self.user) {
        // Our own account key is on this device; a different one can only come from a reset that retired this device.
        throw new SealpostError('ACCOUNT_KEY_CHANGED', 'the server shows another account key for your own account; this device was retired by an account reset');
      }
      verdict = fresh;
      if (verdict.kind === 'ok') {
        // Said as the log shows it. A reset retires the old key in a version of its own before any new key; a new
        // key that follows no retirement is what an operator swapping keys produces (an honest server refuses to
        // publish one), and is refused.
        const retiredAt = await this.retirementBetween(user, pinned.accountKey, verdict.list.accountKey);
        if (retiredAt === undefined) {
          throw new SealpostError(
            'ACCOUNT_KEY_CHANGED',
            `a new account key for ${user} appeared in the key-transparency log without a reset (no version retires the old key): refusing it. No admin reset made this; tell ${user} and your admin`,
          );
        }
        const how = await this.contest(user, pinned.accountKey, verdict.list.accountKey, retiredAt);
        const mine = this.self.accountKey();
        const before = mine ? formatSafetyNumber(safetyNumber({ user: this.self.user, accountKey: mine }, { user, accountKey: pinned.accountKey })) : undefined;
        const after = mine ? formatSafetyNumber(safetyNumber({ user: this.self.user, accountKey: mine }, { user, accountKey: verdict.list.accountKey })) : undefined;
        this.warn(
          `the safety number with ${user} has changed: an admin reset their account (the key-transparency log retires their old key at version ${retiredAt}) and a new account key was enrolled` +
            (before && after ? `; was ${before}, now ${after}` : '') +
            (how === 'verified' ? '. You compared the new number: it is used now.' : `. No device of ${user}'s objected within the contest period; compare the number with them before trusting what they send.`),
        );
        this.store.replaceKnownUser(user, verdict.list.accountKey, verdict.list.version, Date.now());
      }
    }
    if (verdict.kind !== 'ok') {
      if (verdict.reason === 'account-key-changed') {
        throw new SealpostError('ACCOUNT_KEY_CHANGED', `the account key of ${user} has changed since this device first saw it; refusing to trust its devices`);
      }
      throw new SealpostError('DEVICE_LIST_INVALID', `device list of ${user} refused: ${verdict.reason}`);
    }
    // The list must be the one the key-transparency log commits to for this user (not a list made for us alone).
    // A legal hold the log commits to must be the organisation's, as shown (kt-verifier.ts).
    const { hold } = await this.kt.checkDeviceList(user, signed.body, verdict.list, holds);
    this.store.putKnownUser(user, verdict.list.accountKey, verdict.list.version, Date.now());
    const revoked = new Set<string>(res.revoked ?? []);
    const list = { ...verdict.list, devices: verdict.list.devices.filter((d) => !revoked.has(d.id)) };
    this.cache.set(user, { list, revoked, ...(hold ? { hold } : {}) });
    this.history.delete(user);
    return list;
  }

  /** The legal hold (or its release) the log commits to for `user`, as last checked with their device list. */
  holdOf(user: UserId): LegalHold | undefined {
    return this.cache.get(user)?.hold;
  }

  /** See `retirementBetween`, over the label's whole history (read only on a key change, which is rare). */
  private async retirementBetween(user: UserId, oldKey: Uint8Array, newKey: Uint8Array): Promise<number | undefined> {
    return retirementBetween((await this.kt.monitor(user, 1)).versions, oldKey, newKey);
  }

  /**
   * The contest period (policy key-change-contest): a contact's new account key is used only once it has stood in
   * the log, unobjected, for the period since this device first saw it — or at once when the user compared the
   * new safety number. Until then `KeyChangePending`; an objection from the owner's devices (signed with the key
   * this device knows, found on the server or an auditor) refuses it for good, unless the user verifies the number.
   */
  private async contest(user: UserId, oldKey: Uint8Array, newKey: Uint8Array, retiredAt: number): Promise<'verified' | 'period-over'> {
    const now = Date.now();
    const c = this.store.startKeyContest(user, newKey, retiredAt, now);
    if (c.verified) {
      this.store.endKeyContest(user);
      return 'verified';
    }
    const objected = (await this.kt.objections(user)).find((o) => bytesEqual(o.accountKey, oldKey));
    if (objected || c.refused !== null) {
      const reason =
        c.refused ??
        `${user}'s own devices object to the change of their account key (signed with the key you know, against log versions from ${objected!.fromVersion} on)`;
      if (c.refused === null) {
        this.store.refuseKeyContest(user, reason);
        this.warn(`KEY TRANSPARENCY ALARM: ${reason}. The new key is refused; tell ${user} and your admin`);
      }
      throw new SealpostError('ACCOUNT_KEY_CHANGED', `${reason}: refusing the new key. Tell ${user} and your admin`);
    }
    const until = c.firstSeen + this.contestPeriodMs();
    if (now < until) throw new KeyChangePending(user, until, retiredAt, newKey);
    this.store.endKeyContest(user);
    return 'period-over';
  }

  /** The contest period in force on this device (contest-period.ts keeps it from being shortened at once). */
  contestPeriodMs(): number {
    const state = JSON.parse(this.store.getMetaText('contest_period') ?? 'null') as ContestPeriodState | null;
    return state?.effective ?? DEFAULT_KEY_CHANGE_CONTEST_MS;
  }

  /** The full signed list (revoked devices included), for re-signing one's own list. */
  forget(user: UserId): void {
    this.cache.delete(user);
    this.history.delete(user);
  }

  /** The MLS authentication check: is this leaf's key in the user's account-signed device list, and not revoked? */
  async isTrusted(identity: DeviceIdentity, signatureKey: Uint8Array): Promise<boolean> {
    const has = (list: DeviceList) => list.devices.some((d) => d.id === identity.device && bytesEqual(d.signatureKey, signatureKey));
    try {
      if (has(await this.deviceList(identity.user))) return true;
      // The list may have changed since we cached it (a device was just added): look once more.
      if (has(await this.deviceList(identity.user, true))) return true;
      // A commit made before the device was removed (we are catching up): it must be in an earlier list signed by
      // the same account key. The removal that followed is in the queue after it.
      return (await this.earlierLists(identity.user)).some(has);
    } catch (err) {
      // A list that fails verification means "not trusted"; a network failure is not an answer and propagates,
      // so the message is retried later instead of being dropped as untrusted.
      if (err instanceof SealpostError && ['DEVICE_LIST_INVALID', 'ACCOUNT_KEY_CHANGED', 'KEY_CHANGE_PENDING', 'USER_NOT_FOUND'].includes(err.code)) return false;
      throw err;
    }
  }

  private async earlierLists(user: UserId): Promise<DeviceList[]> {
    const cached = this.history.get(user);
    if (cached) return cached;
    const pinned = this.store.getKnownUser(user);
    if (!pinned) return [];
    const res = await this.api.request<{ history?: { body: string; signature: string }[] }>('GET', `/v1/users/${encodeURIComponent(user)}/devices?history=1`);
    const lists: DeviceList[] = [];
    for (const h of (res.history ?? []).slice(0, 100)) {
      const v = await verifyDeviceList(this.cs.signature, signedDeviceListFromJson(h), { user, pinned: { accountKey: pinned.accountKey, version: 0 } });
      if (v.kind === 'ok') lists.push(v.list);
    }
    this.history.set(user, lists);
    return lists;
  }
  private readonly history = new Map<UserId, DeviceList[]>();

  async devicesOf(user: UserId): Promise<DeviceId[]> {
    return (await this.deviceList(user)).devices.map((d) => d.id);
  }
}

/**
 * The version that retires `oldKey` (an empty account key: an admin reset) after its last version and before the
 * first one with `newKey`, or undefined when the log goes from one key to the other directly.
 */
export function retirementBetween(versions: { version: number; record: { accountKey: Uint8Array } }[], oldKey: Uint8Array, newKey: Uint8Array): number | undefined {
  let retired: number | undefined;
  for (const { version, record } of versions) {
    if (bytesEqual(record.accountKey, oldKey)) retired = undefined;
    else if (record.accountKey.length === 0) retired ??= version;
    else if (bytesEqual(record.accountKey, newKey)) return retired;
  }
  return undefined;
}
