// The core of a client: one enrolled device's store, API, MLS engine, trust and key-transparency verifier, the serial
// queue every operation runs in, store transactions and the group states decoded in this process. The parts built on
// it (session, receiving, membership, sending, …) reach these through ClientPart.
import {
  GroupEngine,
  SealpostError,
  fromBase64Url,
  type HistoryItem,
  toBase64Url,
  type ConversationId,
  type DeviceId,
  type GroupState,
  type MessageId,
  type SignatureKeyPair,
  type UserId,
  type ChatText,
  type Mail,
  parseUserId,
  userDomain,
  suiteNames,
  type SuiteName,
} from '@sealpost/protocol';
import { HttpApi } from '../http-api.js';
import type { ClientPlatform, FileTransferPort } from '../platform.js';
import type { ConversationRow, ProfileStorage } from '../profile-storage.js';
import { DeviceTrust } from '../trust.js';
import { nextContestPeriod, type ContestPeriodState } from '../contest-period.js';
import { KtVerifier } from '../kt-verifier.js';
import type { ClientOptions, ServerInfo } from '../types.js';
import { noteMembers } from '../legal-hold.js';

/** Errors that mean "try again later", never "this message is bad". */
export const transientCodes = new Set(['SERVER_UNREACHABLE', 'UNAUTHENTICATED', 'PROTOCOL_ERROR', 'INTERNAL', 'RATE_LIMITED']);
export const KEY_PACKAGE_BATCH = 50;
/**
 * pq-hybrid KeyPackages are made 20 at a time: each costs ~2.3 ms (X-Wing keys), so a new device's first batch stays
 * within its 100 ms budget (docs/performance.md); the stock is topped up again whenever fewer than 10 are left.
 */
export const HYBRID_KEY_PACKAGE_BATCH = 20;
const KEY_PACKAGE_LOW_WATER = 10;

/**
 * What every part of a client shares: the profile store, the API, the MLS engine, trust and key transparency,
 * one serial queue for operations, store transactions, and the decoded group states of this process.
 */
export class ClientCore {
  chain: Promise<unknown> = Promise.resolve();
  wiped = false;
  readonly warn: (m: string) => void;
  /** Set by the session: sign in again after the server ended the connection (the answer says why). */
  signInAgain: () => Promise<unknown> = async () => {};

  constructor(
    readonly store: ProfileStorage,
    readonly api: HttpApi,
    readonly engine: GroupEngine,
    readonly options: ClientOptions,
    readonly user: UserId,
    readonly device: DeviceId,
    readonly server: string,
    readonly trust: DeviceTrust,
    readonly kt: KtVerifier,
    readonly files: FileTransferPort,
    readonly platform: ClientPlatform,
  ) {
    this.warn = options.warn ?? (() => {});
  }

  /** A user someone named: `bob` means `bob@` this account's own domain, as in every admin command. */
  qualify(name: string): UserId {
    const n = name.trim();
    return parseUserId(n.includes('@') ? n : `${n}@${userDomain(this.user)}`);
  }

  /** A conversation's name, set by a member (kept when it is newer than the one known). */
  nameConversation(conversation: ConversationId, n: { name: string; sentAt: number; id: string; by: UserId }): void {
    const before = this.conversationName(conversation);
    if (before && (before.sentAt > n.sentAt || (before.sentAt === n.sentAt && before.id >= n.id))) return;
    this.store.setMeta(`name:${conversation}`, JSON.stringify(n));
  }

  conversationName(conversation: ConversationId): { name: string; sentAt: number; id: string; by: UserId } | undefined {
    const raw = this.store.getMetaText(`name:${conversation}`);
    return raw ? (JSON.parse(raw) as { name: string; sentAt: number; id: string; by: UserId }) : undefined;
  }

  /** Device keys, server facts (organisation key, policy) of a new profile. */
  saveIdentity(info: ServerInfo, deviceKeys: SignatureKeyPair): void {
    this.store.setMeta('server', this.server);
    this.store.setMeta('user', this.user);
    this.store.setMeta('device', this.device);
    this.store.setMeta('device_sig_public', deviceKeys.publicKey);
    this.store.setMeta('device_sig_private', deviceKeys.privateKey);
    this.store.setMeta('enrolled_at', String(Date.now()));
    this.rememberServerInfo(info);
  }

  rememberServerInfo(info: ServerInfo): void {
    const org = fromBase64Url(info.orgKey);
    // Pinned once: a server that later shows another organisation key cannot make this device obey it.
    if (org && org.length === 32 && !this.store.getMeta('org_key')) this.store.setMeta('org_key', org);
    if (info.kt && !this.store.getMeta('kt_keys')) this.store.setMeta('kt_keys', JSON.stringify({ signatureKey: info.kt.signatureKey, vrfKey: info.kt.vrfKey }));
    this.store.setMeta('policy', JSON.stringify(info.policy));
    const period = JSON.parse(this.store.getMetaText('contest_period') ?? 'null') as ContestPeriodState | null;
    this.store.setMeta('contest_period', JSON.stringify(nextContestPeriod(period ?? undefined, info.policy.keyChangeContestMs, Date.now())));
  }

  importHistory(history: HistoryItem[]): void {
    for (const h of history) {
      let content: Record<string, unknown>;
      try {
        content = JSON.parse(h.content) as Record<string, unknown>;
      } catch {
        continue;
      }
      this.store.addMessage(
        {
          conversation: h.conversation as ConversationId,
          id: h.id as MessageId,
          senderUser: h.senderUser as UserId,
          senderDevice: h.senderDevice as DeviceId,
          sentAt: h.sentAt,
          receivedAt: h.sentAt,
          direction: h.senderUser === this.user ? 'out' : 'in',
          kind: h.kind,
          read: true,
          content,
        },
        true,
      );
    }
  }

  get deviceKeys(): SignatureKeyPair {
    return { publicKey: this.store.getMeta('device_sig_public')!, privateKey: this.store.getMeta('device_sig_private')! };
  }

  async makeKeyPackages(n: number, lastResort = false, suite: SuiteName = 'classic'): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const kp = await this.engine.createKeyPackage({ user: this.user, device: this.device }, this.deviceKeys, suite);
      this.store.addKeyPackage(kp.ref, kp.publicBytes, kp.privateBytes, lastResort);
      out.push(kp.publicBytes);
    }
    return out;
  }

  /**
   * Upload a new batch of each suite when the server holds few one-time KeyPackages of it for this device; the first
   * time for a suite, a last-resort one too (enrollment and linking upload classic ones; pq-hybrid ones come here).
   */
  async replenishKeyPackages(): Promise<void> {
    for (const suite of suiteNames) {
      const { count } = await this.api.request<{ count: number }>('GET', `/v1/keypackages/count?suite=${suite}`);
      const needsLastResort = suite !== 'classic' && this.store.getMetaText(`last_resort:${suite}`) !== '1';
      if (count >= KEY_PACKAGE_LOW_WATER && !needsLastResort) continue;
      const batch = suite === 'classic' ? KEY_PACKAGE_BATCH : HYBRID_KEY_PACKAGE_BATCH;
      const kps = count >= KEY_PACKAGE_LOW_WATER ? [] : await this.makeKeyPackages(batch - count, false, suite);
      const lastResort = needsLastResort ? await this.makeKeyPackages(1, true, suite) : [];
      await this.api.request('POST', '/v1/keypackages', { keyPackages: kps.map(toBase64Url), ...(lastResort[0] ? { lastResortKeyPackage: toBase64Url(lastResort[0]) } : {}) });
      if (needsLastResort) this.store.setMeta(`last_resort:${suite}`, '1');
    }
  }

  /** The suite the organisation's policy names for new conversations and keys (classic from a server that names none). */
  policySuite(): SuiteName {
    return (JSON.parse(this.store.getMetaText('policy') ?? '{}') as { conversationSuite?: SuiteName }).conversationSuite === 'pq-hybrid' ? 'pq-hybrid' : 'classic';
  }

  /** The MLS suite of a conversation this device is in (kept beside it; classic for one from before suites). */
  suiteOf(conversation: ConversationId): SuiteName {
    const s = this.store.getMetaText(`suite:${conversation}`);
    return s === 'pq-hybrid' ? 'pq-hybrid' : 'classic';
  }

  requireConversation(id: ConversationId): ConversationRow {
    const conv = this.store.getConversation(id);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', `no conversation ${id} on this device`);
    if (conv.status !== 'active') throw new SealpostError('NOT_A_MEMBER', `this device was removed from conversation ${id}`);
    return conv;
  }

  /** A store transaction; if it rolls back, cached states that it saved are forgotten too. */
  async tx<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.store.exclusive(fn);
    } catch (err) {
      this.states.clear();
      throw err;
    }
  }

  /** The decoded group state of a conversation, from this process's cache when it is still current. */
  loadState(conv: ConversationRow): GroupState {
    const cached = this.states.get(conv.id);
    if (cached && cached.version === conv.version) return cached.state;
    const stored = this.store.conversationState(conv.id);
    const state =
      conv.stateFormat === 'parts'
        ? this.engine.joinState({ base: stored, secrets: this.store.secretNodes(conv.id) })
        : this.engine.decodeState(stored);
    this.states.set(conv.id, { version: conv.version, state });
    return state;
  }

  readonly states = new Map<ConversationId, { version: number; state: GroupState }>();

  /**
   * Save `after` (in the caller's transaction). With `before`, only what changed is written: usually one
   * secret-tree node per message; the whole state only when the epoch (or anything else) changed.
   */
  saveState(conv: ConversationRow, before: GroupState | undefined, after: GroupState, extra: Partial<ConversationRow> = {}): void {
    const change = before && conv.stateFormat === 'parts' && Object.keys(extra).length === 0 ? this.engine.stateChange(before, after) : undefined;
    let version: number;
    if (change?.kind === 'none') return;
    if (change?.kind === 'secrets') {
      version = this.store.updateSecretNodes(conv.id, change.changed, Date.now());
    } else {
      const parts = change?.kind === 'full' ? change.parts : this.engine.splitState(after);
      const members = uniqueUsers(this.engine.members(after).map((m) => m.user));
      noteMembers(this.store, conv.id, conv.members, members, Date.now());
      if (!this.store.getMetaText(`suite:${conv.id}`)) this.store.setMeta(`suite:${conv.id}`, this.engine.suiteOf(after));
      version = this.store.putConversation({
        ...conv,
        ...extra,
        state: parts.base,
        stateFormat: 'parts',
        epoch: this.engine.epoch(after),
        members,
        updatedAt: Date.now(),
      });
      this.store.putSecretNodes(conv.id, parts.secrets);
    }
    this.states.set(conv.id, { version, state: after });
  }

  /**
   * Something this device's user must know is wrong (a key swapped in, a device or archive nobody may add): kept
   * until the profile is reset (`verify --self` shows it) and said now.
   */
  raiseAlarm(problems: string[]): void {
    if (problems.length === 0) return;
    this.store.setMeta('kt_alarm', JSON.stringify({ at: new Date().toISOString(), problems }));
    for (const p of problems) this.warn(`KEY TRANSPARENCY ALARM: ${p}`);
  }

  /** Operations of one client run one at a time (they share MLS state and the local store). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'DEVICE_REVOKED' && !this.wiped) {
          // The server ended our connection; signing in again says why (revoked, disabled, or a wipe to carry out).
          this.store.setMeta('session_expires', '0');
          await this.signInAgain();
        }
        throw err;
      }
    };
    const run = this.chain.then(guarded, guarded);
    this.chain = run.catch(() => {});
    return run;
  }
}

/** A part of the client (receiving, membership, sending, …): the core's members under the names they always had. */
export abstract class ClientPart {
  constructor(protected readonly core: ClientCore) {}
  protected get store() { return this.core.store; }
  protected get api() { return this.core.api; }
  protected get engine() { return this.core.engine; }
  protected get options() { return this.core.options; }
  protected get user() { return this.core.user; }
  protected get device() { return this.core.device; }
  protected get server() { return this.core.server; }
  protected get trust() { return this.core.trust; }
  protected get kt() { return this.core.kt; }
  protected get files() { return this.core.files; }
  protected get warn() { return this.core.warn; }
  protected get deviceKeys() { return this.core.deviceKeys; }
  protected qualify(name: string): UserId { return this.core.qualify(name); }
  protected serial<T>(fn: () => Promise<T>): Promise<T> { return this.core.serial(fn); }
  protected tx<T>(fn: () => Promise<T>): Promise<T> { return this.core.tx(fn); }
  protected loadState(conv: ConversationRow): GroupState { return this.core.loadState(conv); }
  protected saveState(conv: ConversationRow, before: GroupState | undefined, after: GroupState, extra: Partial<ConversationRow> = {}): void {
    this.core.saveState(conv, before, after, extra);
  }
  protected requireConversation(id: ConversationId): ConversationRow { return this.core.requireConversation(id); }
}

/** Users sorted, each once. */
export function uniqueUsers(users: UserId[]): UserId[] {
  return [...new Set(users)].sort();
}

/** What the local store keeps of a message: the whole content (keys of attachments included; the profile is private). */
export function localContent(c: ChatText | Mail): Record<string, unknown> {
  return { ...c } as Record<string, unknown>;
}
