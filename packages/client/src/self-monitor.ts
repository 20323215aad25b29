// Key transparency on the device: its own label monitored, contacts verified with safety numbers.
import {
  type AccountRecord,
  SealpostError,
  fromBase64Url,
  parseUserId,
  verifyDeviceList,
  safetyNumber,
  formatSafetyNumber,
  signedDeviceListFromJson,
  bytesEqual,
  deviceListHash,
  toBase64Url,
  holdActive,
  type DeviceList,
  type LegalHold,
  type DeviceId,
  type UserId,
} from '@sealpost/protocol';
import type { KeyContest } from './profile-storage.js';
import { checkOwnVersions, holdsFromJson, matches, type KtStatus } from './kt-verifier.js';
import type { SelfCheck, VerifyResult } from './types.js';
import { ClientCore, ClientPart, transientCodes } from './core/client-core.js';
import type { Session } from './core/session.js';
import type { HeldRelease } from './held.js';

/**
 * Key transparency from this device's side: monitoring its own label (every version since the last check must be
 * one this account made; an alarm and an objection otherwise), and verifying a contact (the safety number, the
 * log's status of their key, a key change in its contest period).
 */
export class SelfMonitor extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly session: Session,
    private readonly held: HeldRelease,
  ) {
    super(core);
  }

  /** Contacts whose account key changed (an admin reset) since the user last verified them: shown until then. */
  unacknowledgedKeyChanges(): { user: UserId; at: string }[] {
    return this.store.unacknowledgedKeyChanges().map((c) => ({ user: c.user, at: new Date(c.at).toISOString() }));
  }

  /**
   * Check this account's own label in the log: the latest record must carry this account's key and the hash of a
   * device list signed by it, and the server must hold no active device outside that list. Anything else is a
   * change this user's devices did not make: an alarm (kept until checked again, and reported by `verify --self`).
   */
  monitorSelf(): Promise<SelfCheck> {
    return this.serial(() => this.monitorSelfInner());
  }

  async monitorSelfInner(): Promise<SelfCheck> {
    const accountKey = this.store.getMeta('account_public');
    if (!accountKey) throw new SealpostError('NOT_ENROLLED', 'this device holds no account key');
    let problems: string[] = [];
    let status: KtStatus | undefined;
    let lastMonitored: { version: number; record: AccountRecord }[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      problems = [];
      // Every version since the last one this device verified, each proven in the log.
      const seen = Number(this.store.getMetaText('kt_self_version') ?? 0);
      const monitored = await this.kt.monitor(this.user, Math.max(1, seen));
      status = monitored.status;
      lastMonitored = monitored.versions.filter((v) => v.version > seen);
      // What the server's directory says is checked against the log, but a directory that will not say it (the
      // operator deleted this account's rows) is itself a finding, not an error that stops the check.
      const directory = <T>(p: Promise<T>, empty: T): Promise<T> =>
        p.catch((err: unknown) => {
          if (!(err instanceof SealpostError) || transientCodes.has(err.code)) throw err;
          problems.push(`the server's directory refuses to show this account's devices (${err.code}: ${err.message})`);
          return empty;
        });
      const res = await directory(
        this.api.request<{ deviceList: { body: string; signature: string } | null; devices: { id: DeviceId; revokedAt: string | null }[] }>('GET', '/v1/devices'),
        { deviceList: null, devices: [] },
      );
      const signed = res.deviceList ? signedDeviceListFromJson(res.deviceList) : undefined;
      const own = signed ? await verifyDeviceList(this.engine.cs.signature, signed, { user: this.user }) : undefined;
      const { lists, holds } = await directory(this.ownSignedLists(accountKey), { lists: new Map<number, Uint8Array>(), holds: new Map<string, LegalHold>() });
      problems.push(...checkOwnVersions(monitored.versions, monitored.latest, seen, accountKey, lists, holds));
      const newest = monitored.versions.at(-1);
      const record = newest?.version === monitored.latest ? newest.record : undefined;
      if (!record) problems.push('the log holds no record for this account');
      else if (record.accountKey.length === 0) problems.push('the log\'s latest version retires this account (as an admin reset would): none of your devices asked for it');
      else if (!bytesEqual(record.accountKey, accountKey)) problems.push('the log shows an account key that is not this account\'s: someone published a key for you');
      else if (!signed || own?.kind !== 'ok' || !bytesEqual(own.list.accountKey, accountKey)) problems.push('the server shows a device list not signed by this account');
      else if (!matches(record, signed.body, own.list)) problems.push('the log holds a device list this account did not sign');
      if (own?.kind === 'ok') {
        const ghosts = res.devices.filter((d) => !d.revokedAt && !own.list.devices.some((l) => l.id === d.id)).map((d) => d.id);
        if (ghosts.length > 0) problems.push(`the server holds device(s) this account never approved: ${ghosts.join(', ')}`);
      }
      problems = [...new Set(problems)];
      if (problems.length === 0) this.store.setMeta('kt_self_version', String(monitored.latest));
      if (problems.length === 0 && record?.holdHash) this.tellHold(holds.get(toBase64Url(record.holdHash)));
      if (problems.length === 0) break;
      // A change made by another of our devices a moment ago can race with this check: look once more.
      await new Promise((r) => setTimeout(r, 300));
    }
    this.core.raiseAlarm(problems);
    await this.session.objectToForeignVersions(lastMonitored);
    const alarm = this.store.getMetaText('kt_alarm');
    return { ok: problems.length === 0, problems, alarm: alarm ? (JSON.parse(alarm) as { at: string; problems: string[] }) : null, kt: status! };
  }

  /**
   * Version → hash of each device list of this user, signed by this account key, that the server still holds; and
   * the legal-hold statements on this user that the organisation key signed, by hash.
   */
  async ownSignedLists(accountKey: Uint8Array): Promise<{ lists: Map<number, Uint8Array>; holds: Map<string, LegalHold> }> {
    const res = await this.api.request<{ deviceList: { body: string; signature: string }; history?: { body: string; signature: string }[]; holds?: { body: string; signature: string }[] }>(
      'GET',
      `/v1/users/${encodeURIComponent(this.user)}/devices?history=1`,
    );
    const lists = new Map<number, Uint8Array>();
    for (const json of [res.deviceList, ...(res.history ?? []).slice(0, 100)]) {
      const signed = signedDeviceListFromJson(json);
      const v = await verifyDeviceList(this.engine.cs.signature, signed, { user: this.user });
      if (v.kind === 'ok' && bytesEqual(v.list.accountKey, accountKey)) lists.set(v.list.version, deviceListHash(signed.body));
    }
    return { lists, holds: await this.kt.verifiedHolds(this.user, holdsFromJson(res.holds)) };
  }

  /** A legal hold on this account (or its release), published and checked: said once to the user, not an alarm. */
  private tellHold(hold: LegalHold | undefined): void {
    if (!hold) return;
    const said = `${hold.id}:${hold.releasedAt ?? ''}`;
    if (this.store.getMetaText('legal_hold_told') === said) return;
    this.store.setMeta('legal_hold_told', said);
    this.warn(
      hold.releasedAt !== undefined
        ? `the legal hold on your account was released on ${new Date(hold.releasedAt).toISOString()}: your organisation's archive no longer receives your conversations from then on`
        : `your organisation placed a legal hold on your account from ${new Date(hold.since).toISOString()}${hold.until ? ` until ${new Date(hold.until).toISOString()}` : ''} ("${hold.reason}"): its archive receives your conversations from then on, and everyone you talk to can see this`,
    );
  }

  /**
   * What two users compare: the 60-digit safety number from both account keys (and a QR payload with it and
   * this device's latest verified tree head), the key-transparency status of the other user, and whether the
   * number was confirmed before and has changed since. With `confirm`, record that the user compared it.
   */
  verifyUser(user: string, opts: { confirm?: string; peer?: string } = {}): Promise<VerifyResult> {
    const u = this.qualify(user);
    // A typo is not a warning about the contact: a number of the wrong shape is said to be one.
    const digits = opts.confirm?.replace(/\s/g, '');
    if (digits !== undefined && !/^\d{60}$/.test(digits)) {
      return Promise.reject(new SealpostError('INVALID_INPUT', `--confirm: a safety number is 60 digits (12 groups of 5); this has ${digits.length} characters${/\D/.test(digits) ? ', not all digits' : ''}`));
    }
    return this.serial(async () => {
      const mine = this.store.getMeta('account_public');
      if (!mine) throw new SealpostError('NOT_ENROLLED', 'this device holds no account key');
      // A new key still in its contest period (or refused on an objection) is shown with the number it gives:
      // comparing that number with the contact is what lets this device use the key at once.
      let list: DeviceList | undefined;
      let contest: KeyContest | undefined;
      try {
        list = await this.trust.deviceList(u, true);
      } catch (err) {
        contest = this.store.getKeyContest(u);
        if (!(err instanceof SealpostError) || !['KEY_CHANGE_PENDING', 'ACCOUNT_KEY_CHANGED'].includes(err.code) || !contest) throw err;
      }
      const { status } = await this.kt.search(u);
      const number = safetyNumber({ user: this.user, accountKey: mine }, { user: u, accountKey: list?.accountKey ?? contest!.accountKey });
      if (opts.peer !== undefined) {
        // The contact's QR payload: their view of the same safety number and of the log.
        const peer = parseVerifyPayload(opts.peer);
        if (peer.a !== u || peer.b !== this.user) throw new SealpostError('INVALID_INPUT', `this QR payload is ${peer.a}'s code for ${peer.b}, not ${u}'s for you`);
        if (peer.sn !== number) {
          throw new SealpostError('SAFETY_NUMBER_MISMATCH', `${u} sees another safety number than you: one of you is shown a key that is not the other's`);
        }
        await this.kt.checkPeerHead(u, peer.head);
        this.store.setMeta(`confirmed:${u}`, number);
      }
      const key = `confirmed:${u}`;
      if (opts.confirm !== undefined) {
        if (opts.confirm.replace(/\s/g, '') !== number) {
          throw new SealpostError('SAFETY_NUMBER_MISMATCH', `the number given is not the safety number with ${u}; do not trust this contact until you find out why`);
        }
        this.store.setMeta(key, number);
      }
      if (contest && (opts.confirm !== undefined || opts.peer !== undefined)) {
        // The user compared the number the new key gives: the key is used now (and held messages go out).
        this.store.verifyKeyContest(u);
        list = await this.trust.deviceList(u, true);
        contest = undefined;
        await this.held.releaseHeldInner();
      }
      // Comparing the current number is what acknowledges a key change (with --confirm or --peer).
      if (opts.confirm !== undefined || opts.peer !== undefined) this.store.acknowledgeKeyChanges(u, Date.now());
      const ackAt = this.store.keyChangesAcknowledgedAt(u);
      const keyChanges = this.store.keyChanges(u).map((c) => ({ at: new Date(c.at).toISOString(), acknowledged: ackAt !== undefined && c.at <= ackAt }));
      const confirmed = this.store.getMetaText(key);
      const head = status.head;
      const hold = list ? this.trust.holdOf(u) : undefined;
      return {
        user: u,
        safetyNumber: formatSafetyNumber(number),
        qr: `sealpost-verify:v1?${new URLSearchParams({ a: this.user, b: u, sn: number, head: `${head.size}:${head.root}` }).toString()}`,
        kt: { verified: true, version: status.version, head },
        confirmed: confirmed !== undefined,
        changedSinceConfirmed: confirmed !== undefined && confirmed !== number,
        devices: list?.devices.length ?? 0,
        keyChanges,
        ...(hold ? { hold: holdSummary(hold) } : {}),
        conversations: this.store
          .listConversations()
          .filter((c) => c.status === 'active' && c.members.includes(u))
          .map((c) => ({ id: c.id, suite: this.core.suiteOf(c.id) })),
        ...(contest
          ? {
              keyChange: contest.refused !== null
                ? { status: 'refused' as const, retiredAt: contest.retiredAt, reason: contest.refused }
                : { status: 'pending' as const, retiredAt: contest.retiredAt, until: new Date(contest.firstSeen + this.trust.contestPeriodMs()).toISOString() },
            }
          : {}),
      };
    });
  }
}

/** A legal hold as verify shows it (dates as ISO text, and whether it records now). */
export function holdSummary(h: LegalHold): NonNullable<VerifyResult['hold']> {
  return {
    id: h.id,
    reason: h.reason,
    since: new Date(h.since).toISOString(),
    ...(h.until !== undefined ? { until: new Date(h.until).toISOString() } : {}),
    ...(h.releasedAt !== undefined ? { releasedAt: new Date(h.releasedAt).toISOString() } : {}),
    active: holdActive(h, Date.now()),
  };
}

/** `sealpost-verify:v1?a=USER&b=PEER&sn=60DIGITS&head=SIZE:ROOT` (what `verifyUser` prints as `qr`). */
function parseVerifyPayload(text: string): { a: string; b: string; sn: string; head: { size: number; root: Uint8Array } } {
  const prefix = 'sealpost-verify:v1?';
  if (!text.startsWith(prefix) || text.length > 1000) throw new SealpostError('INVALID_INPUT', 'not a Sealpost verify QR payload (sealpost-verify:v1?…)');
  const q = new URLSearchParams(text.slice(prefix.length));
  const [size, root] = (q.get('head') ?? '').split(':');
  const r = root ? fromBase64Url(root) : undefined;
  const n = Number(size);
  if (!q.get('a') || !q.get('b') || !/^\d{60}$/.test(q.get('sn') ?? '') || !Number.isSafeInteger(n) || n < 1 || !r || r.length !== 32) {
    throw new SealpostError('INVALID_INPUT', 'verify QR payload: missing or malformed fields');
  }
  return { a: q.get('a')!, b: q.get('b')!, sn: q.get('sn')!, head: { size: n, root: r } };
}
