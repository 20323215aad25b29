// The client side of key transparency: every device list this client trusts must be the one the log commits to
// for that user, under a tree head consistent with every head this device verified before (persisted). The
// user's own label is monitored: a record this user's devices did not make raises an alarm.
import {
  SealpostError,
  bytesEqual,
  decodeAccountRecord,
  decodeMonitorResponse,
  decodeSearchResponse,
  deviceListHash,
  fromBase64Url,
  toBase64Url,
  verifyMonitor,
  signObjection,
  verifyObjection,
  type Objection,
  verifySearch,
  type AccountRecord,
  type DeviceList,
  type KtKeys,
  type TreeHead,
  type UserId,
  verifyAuditedHead,
  verifyKtRestart,
  legalHoldHash,
  verifyLegalHold,
  type KtRestart,
  type LegalHold,
  type SignedLegalHold,
} from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { HttpApi } from './http-api.js';
import type { ProfileStorage } from './profile-storage.js';

/** How far ahead of this device's clock a restart statement may be dated (clocks differ; a day is generous). */
const RESTART_CLOCK_SKEW_MS = 24 * 60 * 60_000;

export interface KtStatus {
  version: number;
  head: { size: number; root: string };
}

export class KtVerifier {
  constructor(
    private readonly cs: CiphersuiteImpl,
    private readonly api: HttpApi,
    private readonly store: ProfileStorage,
    /** How long to wait for auditors to co-sign a new head when policy requires it. */
    private readonly auditWaitMs = 20_000,
    private readonly warn: (m: string) => void = () => {},
  ) {}

  /**
   * The newest organisation-signed restart statement (admin kt restart) made after `after` (ms), verified against
   * the organisation key pinned at enrollment; undefined when there is none (or none that verifies).
   */
  async restartAfter(after: number, auth: 'device' | 'none' = 'none'): Promise<KtRestart | undefined> {
    const org = this.store.getMeta('org_key');
    const domain = this.store.getMetaText('user')?.split('@')[1];
    if (!org || !domain) return undefined;
    const res = await this.api.request<{ restarts?: { body: string; signature: string }[] }>('GET', '/v1/kt/restarts', undefined, auth).catch(() => ({ restarts: [] }));
    let newest: KtRestart | undefined;
    for (const s of (res.restarts ?? []).slice(-20)) {
      const body = fromBase64Url(s.body);
      const sig = fromBase64Url(s.signature);
      if (!body || !sig || body.length > 2048) continue;
      const r = await verifyKtRestart(this.cs.signature, org, domain, body, sig);
      // A statement dated in the future would shut out every later one (each must be newer): not believed.
      if (r && r.at > after && r.at <= Date.now() + RESTART_CLOCK_SKEW_MS && (!newest || r.at > newest.at)) newest = r;
    }
    return newest;
  }

  /**
   * The log shown is older than, or not consistent with, the head this device verified: what a rollback attack
   * looks like, and what a restore from a backup does. Only an organisation-signed restart statement made after this
   * device last accepted a head lets it start again from the head the statement names; every account key it knew
   * stays pinned (trust.ts), so a key swapped in by the restore still alarms. Said to the user, once per restart.
   */
  private async acceptRestart(): Promise<boolean> {
    const lastAt = Number(this.store.getMetaText('kt_head_at') ?? 0);
    const seenRestart = Number(this.store.getMetaText('kt_restart_at') ?? 0);
    const r = await this.restartAfter(Math.max(lastAt, seenRestart));
    if (!r) return false;
    this.store.setMeta('kt_head', '');
    this.store.setMeta('kt_self_version', '0');
    this.store.setMeta('kt_restart_at', String(r.at));
    this.store.setMeta('kt_restart', JSON.stringify({ at: r.at, reason: r.reason, size: r.head.size }));
    // The server's queue restarted too (its seqs moved past any issued before): what was processed is forgotten.
    this.store.forgetProcessedExcept(new Set());
    this.warn(
      `the server was restored from a backup: "${r.reason.slice(0, 300)}" (signed by your organisation, ${new Date(r.at).toISOString()}). ` +
        'Key transparency starts again from the restored log; every contact\'s key this device knew must stay the same, or it raises an alarm',
    );
    return true;
  }

  /**
   * Organisation policy may require N auditors' co-signatures on a head before it is trusted: ask each listed
   * auditor for the head of this size (auditors replay on their own schedule, so wait for them, bounded).
   */
  private async requireAuditors(head: TreeHead): Promise<void> {
    const policy = JSON.parse(this.store.getMetaText('policy') ?? '{}') as { ktAuditors?: { url: string; key: string }[]; ktMinAuditorSignatures?: number };
    const need = policy.ktMinAuditorSignatures ?? 0;
    if (need === 0) return;
    const auditors = (policy.ktAuditors ?? []).slice(0, 8);
    const deadline = Date.now() + this.auditWaitMs;
    const signedBy = new Set<string>();
    const refusals = new Map<string, string>();
    for (let round = 0; ; round++) {
      for (const a of auditors) {
        if (signedBy.has(a.key) || refusals.has(a.key)) continue;
        try {
          const res = await fetch(new URL(`/heads/${head.size}`, a.url), { signal: AbortSignal.timeout(3000) });
          if (res.status === 409) {
            // The auditor verified this head and refuses to co-sign it (an objected key change): no waiting for it.
            const why = ((await res.json()) as { error?: { message?: string } }).error?.message;
            refusals.set(a.key, `${a.url}: ${String(why ?? 'refused').slice(0, 300)}`);
            continue;
          }
          if (!res.ok) continue;
          const h = (await res.json()) as { size: number; root: string; timestamp: number; auditorSignature: string };
          const key = fromBase64Url(a.key);
          const sig = fromBase64Url(h.auditorSignature ?? '');
          if (!key || !sig || h.size !== head.size || h.root !== toBase64Url(head.root) || h.timestamp !== head.timestamp) continue;
          if (await verifyAuditedHead(this.cs.signature, key, head, sig)) signedBy.add(a.key);
        } catch {
          // An unreachable auditor simply does not count.
        }
      }
      if (signedBy.size >= need) return;
      if (Date.now() > deadline || auditors.length - refusals.size < need) {
        throw new SealpostError(
          'KT_VERIFICATION_FAILED',
          `tree head ${head.size} is co-signed by ${signedBy.size} of the ${need} auditors policy requires` +
            (refusals.size > 0 ? `; refused by ${[...refusals.values()].join('; ')}` : ''),
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** Math.min(round, 3), 2000)));
    }
  }

  /** The log's keys, pinned when this device enrolled (or on first use, for a profile made before). */
  private async keys(): Promise<KtKeys> {
    const pinned = this.store.getMetaText('kt_keys');
    if (pinned) {
      const k = JSON.parse(pinned) as { signatureKey: string; vrfKey: string };
      return { signatureKey: fromBase64Url(k.signatureKey)!, vrfKey: fromBase64Url(k.vrfKey)! };
    }
    const info = await this.api.request<{ kt?: { signatureKey: string; vrfKey: string } }>('GET', '/v1/info', undefined, 'none');
    if (!info.kt) throw new SealpostError('PROTOCOL_ERROR', 'the server publishes no key-transparency keys');
    this.store.setMeta('kt_keys', JSON.stringify({ signatureKey: info.kt.signatureKey, vrfKey: info.kt.vrfKey }));
    return this.keys();
  }

  /** A verified head becomes this device's latest once the auditors policy requires have co-signed a new one. */
  private async acceptHead(head: TreeHead): Promise<void> {
    if (this.lastHead()?.size !== head.size) await this.requireAuditors(head);
    this.store.setMeta('kt_head', JSON.stringify({ size: head.size, root: toBase64Url(head.root) }));
    this.store.setMeta('kt_head_at', String(Date.now()));
  }

  lastHead(): { size: number; root: Uint8Array } | undefined {
    const h = this.store.getMetaText('kt_head');
    if (!h) return undefined;
    const { size, root } = JSON.parse(h) as { size: number; root: string };
    return { size, root: fromBase64Url(root)! };
  }

  /** The latest version of `label`, verified end to end; the head is remembered for the next check. */
  async search(label: UserId): Promise<{ version: number; record: AccountRecord | undefined; status: KtStatus }> {
    const last = this.lastHead();
    const res = await this.api.request<{ proof: string }>('GET', `/v1/kt/search/${encodeURIComponent(label)}${last ? `?since=${last.size}` : ''}`);
    const bytes = fromBase64Url(res.proof);
    if (!bytes) throw new SealpostError('PROTOCOL_ERROR', 'kt: search answer is not base64url');
    const verdict = await verifySearch(this.cs.signature, await this.keys(), label, decodeSearchResponse(bytes), last);
    if (verdict.kind !== 'ok') {
      if (last && (verdict.reason === 'stale-head' || verdict.reason === 'not-consistent') && (await this.acceptRestart())) return this.search(label);
      throw new SealpostError('KT_VERIFICATION_FAILED', `key-transparency check for ${label} failed: ${verdict.reason}`);
    }
    await this.acceptHead(verdict.head);
    const record = verdict.value ? decodeAccountRecord(verdict.value) : undefined;
    return { version: verdict.version, record, status: { version: verdict.version, head: { size: verdict.head.size, root: toBase64Url(verdict.head.root) } } };
  }

  /**
   * Every version of `label` from `from` up to the latest, each proven present under one verified head (paged,
   * 64 versions per answer): no version can have come and gone unseen. The head is remembered like a search's.
   */
  async monitor(label: UserId, from: number, auth: 'device' | 'none' = 'device'): Promise<{ versions: { version: number; record: AccountRecord }[]; latest: number; status: KtStatus }> {
    const versions: { version: number; record: AccountRecord }[] = [];
    for (let page = 0; page < 1_000; page++) {
      const last = this.lastHead();
      const query = `from=${from}${last ? `&since=${last.size}` : ''}`;
      const res = await this.api.request<{ proof: string }>('GET', `/v1/kt/monitor/${encodeURIComponent(label)}?${query}`, undefined, auth);
      const bytes = fromBase64Url(res.proof);
      if (!bytes) throw new SealpostError('PROTOCOL_ERROR', 'kt: monitor answer is not base64url');
      const verdict = await verifyMonitor(this.cs.signature, await this.keys(), label, from, decodeMonitorResponse(bytes), last);
      if (verdict.kind !== 'ok' && last && (verdict.reason === 'stale-head' || verdict.reason === 'not-consistent') && (await this.acceptRestart())) {
        // Started again from the restored log: monitor from the first version (own versions are all re-checked).
        return this.monitor(label, label === this.store.getMetaText('user') ? 1 : from, auth);
      }
      if (verdict.kind !== 'ok') {
        throw new SealpostError('KT_VERIFICATION_FAILED', `key-transparency monitoring of ${label} failed: ${verdict.reason}`);
      }
      await this.acceptHead(verdict.head);
      for (const v of verdict.versions) versions.push({ version: v.version, record: decodeAccountRecord(v.value) });
      if (verdict.complete) {
        const head = { size: verdict.head.size, root: toBase64Url(verdict.head.root) };
        return { versions, latest: verdict.latest, status: { version: verdict.latest, head } };
      }
      from = versions[versions.length - 1]!.version + 1;
    }
    throw new SealpostError('KT_VERIFICATION_FAILED', `key-transparency monitoring of ${label}: too many versions`);
  }

  /**
   * Check that the head another device saw (a peer's, from their verify QR payload) and the head the server shows
   * this device are on one log: a consistency proof from the peer's head to the current one must verify. A server
   * that shows two people different logs is caught here, when their heads meet.
   */
  async checkPeerHead(label: UserId, peer: { size: number; root: Uint8Array }): Promise<void> {
    const res = await this.api.request<{ proof: string }>('GET', `/v1/kt/search/${encodeURIComponent(label)}?since=${peer.size}`);
    const bytes = fromBase64Url(res.proof);
    if (!bytes) throw new SealpostError('PROTOCOL_ERROR', 'kt: search answer is not base64url');
    const verdict = await verifySearch(this.cs.signature, await this.keys(), label, decodeSearchResponse(bytes), peer);
    if (verdict.kind !== 'ok') {
      throw new SealpostError('KT_VERIFICATION_FAILED', `the key-transparency head your contact saw and the one shown to you are not one log (${verdict.reason}): the server may be showing you different keys`);
    }
  }

  /** The auditors the organisation's policy lists (as this device last fetched it). */
  private auditors(): { url: string; key: string }[] {
    const policy = JSON.parse(this.store.getMetaText('policy') ?? '{}') as { ktAuditors?: { url: string; key: string }[] };
    return (policy.ktAuditors ?? []).slice(0, 8);
  }

  /**
   * Objections to versions of `label` that verify under the key each names (kt/objection.ts): the server's and
   * each listed auditor's, so a server that drops an objection does not hide it. An auditor that does not answer
   * is passed over; the server must answer.
   */
  async objections(label: UserId): Promise<Objection[]> {
    const res = await this.api.request<{ objections: { body: string; signature: string }[] }>('GET', `/v1/kt/objections/${encodeURIComponent(label)}`, undefined, 'none');
    const found = [...(res.objections ?? []).slice(0, 16)];
    for (const a of this.auditors()) {
      try {
        const r = await fetch(new URL(`/objections/${encodeURIComponent(label)}`, a.url), { signal: AbortSignal.timeout(3000) });
        if (!r.ok) continue;
        const text = await r.text();
        if (text.length > 64 * 1024) continue;
        const body = JSON.parse(text) as { objections?: unknown };
        if (Array.isArray(body.objections)) found.push(...(body.objections.slice(0, 16) as { body: string; signature: string }[]));
      } catch {
        // An unreachable auditor adds nothing.
      }
    }
    const out: Objection[] = [];
    for (const o of found) {
      if (typeof o?.body !== 'string' || typeof o.signature !== 'string') continue;
      const body = fromBase64Url(o.body);
      const signature = fromBase64Url(o.signature);
      const v = body && signature ? await verifyObjection(this.cs.signature, { body, signature }, label) : undefined;
      if (v && !out.some((x) => x.fromVersion === v.fromVersion && bytesEqual(x.accountKey, v.accountKey))) out.push(v);
    }
    return out;
  }

  /**
   * Publish this account's objection to its label's versions from `fromVersion` on (no session needed): to the
   * server, and to every auditor the policy lists, so a server that drops it is caught. Succeeds when at least one
   * of them took it; says which did not.
   */
  async object(label: UserId, fromVersion: number, accountKey: Uint8Array, accountPrivate: Uint8Array): Promise<{ server: boolean; auditors: number; failed: string[] }> {
    const signed = await signObjection(this.cs.signature, accountPrivate, { label, fromVersion, accountKey, issuedAt: Date.now() });
    const json = { body: toBase64Url(signed.body), signature: toBase64Url(signed.signature) };
    const failed: string[] = [];
    let server = false;
    try {
      await this.api.request('POST', '/v1/kt/objections', json, 'none');
      server = true;
    } catch (err) {
      failed.push(`the server (${(err as Error).message})`);
    }
    let auditors = 0;
    for (const a of this.auditors()) {
      try {
        const r = await fetch(new URL('/objections', a.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(json),
          signal: AbortSignal.timeout(5000),
        });
        if (r.ok) auditors++;
        else failed.push(`auditor ${a.url} (HTTP ${r.status})`);
      } catch (err) {
        failed.push(`auditor ${a.url} (${(err as Error).message})`);
      }
    }
    if (!server && auditors === 0) throw new SealpostError('SERVER_UNREACHABLE', `nobody took the objection: ${failed.join('; ')}`);
    return { server, auditors, failed };
  }

  /**
   * Throws unless the log's latest record for `user` is exactly this account key and signed device list, and — when
   * the record commits to a legal hold — the server shows that very hold, signed by the organisation key this device
   * pinned. Returns the hold (made or released) the record commits to, if any.
   */
  async checkDeviceList(user: UserId, body: Uint8Array, list: DeviceList, holds: SignedLegalHold[] = []): Promise<{ status: KtStatus; hold?: LegalHold }> {
    const { record, status } = await this.search(user);
    if (!record || !matches(record, body, list)) {
      throw new SealpostError('DEVICE_LIST_INVALID', `the device list the server shows for ${user} is not the one in the key-transparency log`);
    }
    if (!record.holdHash) return { status };
    const hold = (await this.verifiedHolds(user, holds)).get(toBase64Url(record.holdHash));
    if (!hold) {
      throw new SealpostError('DEVICE_LIST_INVALID', `the key-transparency log shows a legal hold on ${user} that the server does not show signed by your organisation's key: refusing ${user}'s devices`);
    }
    return { status, hold };
  }

  /** The hold statements on `user` that the pinned organisation key signed, by the hash an account record commits to. */
  async verifiedHolds(user: UserId, holds: SignedLegalHold[]): Promise<Map<string, LegalHold>> {
    const org = this.store.getMeta('org_key');
    const out = new Map<string, LegalHold>();
    if (!org) return out;
    for (const signed of holds.slice(-100)) {
      const v = await verifyLegalHold(this.cs.signature, org, signed, user);
      if (v.kind === 'ok') out.set(toBase64Url(legalHoldHash(signed)), v.hold);
    }
    return out;
  }
}

/** Hold statements as the directory sends them (base64url). */
export function holdsFromJson(json: { body: string; signature: string }[] | undefined): SignedLegalHold[] {
  return (json ?? []).flatMap((h) => {
    const body = fromBase64Url(h.body);
    const signature = fromBase64Url(h.signature);
    return body && signature ? [{ body, signature }] : [];
  });
}

export function matches(record: AccountRecord, body: Uint8Array, list: DeviceList): boolean {
  return bytesEqual(record.accountKey, list.accountKey) && record.deviceListVersion === list.version && bytesEqual(record.deviceListHash, deviceListHash(body));
}

/**
 * What self-monitoring finds wrong in the versions of the user's own label (from `seen`, the last version this
 * device verified, or from 1 on a device's first check). Before a device's first version with its account key
 * the records belong to an earlier account (before an admin reset) and are not this device's to judge; from then
 * on every version must carry this account key and name a device list this account signed (`lists`: list version
 * → hash of each signed list the server still holds), with list versions only going up. A version that came and
 * went between two checks is caught here: monitoring proves every version, not only the latest.
 */
export function checkOwnVersions(
  versions: { version: number; record: AccountRecord }[],
  latest: number,
  seen: number,
  accountKey: Uint8Array,
  lists: Map<number, Uint8Array>,
  /** Legal-hold statements on this user signed by the organisation key, by hash (a version may commit to one). */
  holds: Map<string, unknown> = new Map(),
): string[] {
  const problems: string[] = [];
  if (latest < seen) problems.push(`the log's latest version of this account is ${latest}, older than version ${seen} this device verified before: the log was rolled back`);
  const oldestKept = lists.size > 0 ? Math.min(...lists.keys()) : Infinity;
  let started = seen > 0;
  let lastListVersion = 0;
  let lastHold: string | undefined;
  for (const { version, record } of versions) {
    const ours = bytesEqual(record.accountKey, accountKey);
    if (!started && !ours) continue;
    started = true;
    if (!ours) {
      problems.push(`version ${version} in the log ${record.accountKey.length === 0 ? 'retires this account' : 'carries an account key that is not this account\'s'}: none of your devices made it`);
      continue;
    }
    const hash = lists.get(record.deviceListVersion);
    // On a first check, lists older than the server keeps (100 versions) cannot be compared.
    const tooOld = seen === 0 && record.deviceListVersion < oldestKept;
    if (hash ? !bytesEqual(hash, record.deviceListHash) : !tooOld) {
      problems.push(`version ${version} in the log holds a device list (version ${record.deviceListVersion}) this account did not sign`);
    }
    const hold = record.holdHash ? toBase64Url(record.holdHash) : undefined;
    if (hold && !holds.has(hold)) problems.push(`version ${version} in the log commits to a legal hold that your organisation's key did not sign for this account`);
    // A version with the same device list is a legal hold placed or released (a new statement), and nothing else.
    const holdChanged = hold !== undefined && hold !== lastHold;
    if (record.deviceListVersion < lastListVersion || (record.deviceListVersion === lastListVersion && !holdChanged)) {
      problems.push(`version ${version} in the log goes back to device list version ${record.deviceListVersion}`);
    }
    lastListVersion = record.deviceListVersion;
    lastHold = hold;
  }
  if (!started) problems.push('the log holds no record with this account\'s key');
  return problems;
}
