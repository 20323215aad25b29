// SealpostClient: one enrolled device. Holds every key; the server only ever sees MLS ciphertext.
// Sending: encrypt → persist state + outbox in one transaction → deliver. Receiving: process → persist state +
// message + processed seq in one transaction → ack. Membership changes: commit → persist as pending → send →
// apply on acceptance, or re-sync and retry when another member's commit won the epoch.
import WebSocket from 'ws';
import {
  type AccountRecord,
  GroupEngine,
  SealpostError,
  challengeMessage,
  decodeContent,
  decodeConversationInfo,
  encodeContent,
  encodeConversationInfo,
  fromBase64Url,
  limits,
  newConversationId,
  newDeviceId,
  newMessageId,
  parseUserId,
  signDeviceList,
  signLabelled,
  signWipeReceipt,
  verifyDeviceList,
  verifyOrgCommand,
  linkFingerprint,
  linkQrPayload,
  safetyNumber,
  formatSafetyNumber,
  parseLinkCode,
  signedDeviceListFromJson,
  bytesEqual,
  deviceListHash,
  type DeviceList,
  type HistoryItem,
  signedDeviceListToJson,
  toBase64Url,
  summariseFile,
  userDomain,
  zFileRef,
  type AttachmentSummary,
  type BlobId,
  type ChatText,
  type FileRef,
  type Mail,
  type ConversationId,
  type ConversationKind,
  type DeviceId,
  type GroupState,
  type MessageId,
  type QueueItem,
  type SignatureKeyPair,
  type UserId,
} from '@sealpost/protocol';
import { nodeCiphersuite } from '@sealpost/crypto';
import { HttpApi } from './http-api.js';
import { FileTransfer, type Progress } from './files.node.js';
import { forwardSubject, forwardText, mailSummary, newMailMessageId, replyRecipients, replySubject, type MailFull, type MailSummary } from './mail.js';
import { ProfileStore, type ConversationRow, type KeyContest, type MessageRow, type UnreadableRecord } from './profile-store.node.js';
import { ServerSocket, type WebSocketFactory } from './socket.js';
import { DeviceTrust, KeyChangePending } from './trust.js';
import { nextContestPeriod, type ContestPeriodState } from './contest-period.js';
import { KtVerifier, checkOwnVersions, matches, type KtStatus } from './kt-verifier.js';
import { newLinkHpkeKeys, openLinkBundle, sealLinkBundle, splitNotice } from './device-link.node.js';

export interface ClientOptions {
  /** Where warnings go (a message that could not be processed, a retry). Default: nowhere. */
  warn?: (message: string) => void;
  /** Passphrase of an encrypted local store (required when the organisation's policy says so). */
  passphrase?: string;
  /** How long to wait for key-transparency auditors to co-sign a new tree head when policy requires it (default 20 s). */
  ktAuditWaitMs?: number;
  /** How often `watch` checks this account's own label in the log (and releases held messages); default 5 minutes. */
  selfCheckIntervalMs?: number;
  webSocket?: WebSocketFactory;
  /** Test double hooks, named as such: let a test simulate a crash at a precise point. Never set in product code. */
  testHooks?: { beforeAck?: () => void; beforeCommitSend?: () => Promise<void>; afterUploadPart?: (part: number) => void };
}

export interface ChatMessage {
  type: 'message';
  conversation: ConversationId;
  id: MessageId;
  from: UserId;
  sentAt: string;
  text: string;
  /** Present when the message carries files. */
  attachments?: AttachmentSummary[];
}

/** What sync and watch report: chat messages and mail. */
export type Received = ChatMessage | MailSummary;

export interface MailDraft {
  to: string[];
  cc?: string[];
  bcc?: string[];
  subject: string;
  text: string;
  html?: string;
  /** Paths of files to attach. */
  attach?: string[];
}

export interface ConversationSummary {
  id: ConversationId;
  kind: ConversationKind;
  members: UserId[];
  status: 'active' | 'removed';
}

/** What the server tells every device before it trusts it with anything (GET /v1/info). */
interface ServerInfo {
  domain: string;
  orgKey: string;
  kt?: { signatureKey: string; vrfKey: string; epochMs: number };
  policy: { requirePassphrase: boolean; retentionDefaultMs: number | null; retentionMaxMs: number | null; maxAttachmentBytes: number; maxDevicesPerUser: number; keyUpdateIntervalMs?: number | null; keyChangeContestMs?: number };
}

export interface LinkCode {
  code: string;
  /** What a QR code shows: server, user, code and the fingerprint, so the approving device can check it itself. */
  qr: string;
  /** The new device's key fingerprint: the approving device shows the same digits. */
  fingerprint: string;
  expiresAt: string;
}

export interface LinkRequestInfo {
  device: DeviceId;
  deviceName: string | null;
  fingerprint: string;
  createdAt: string;
}

export interface SelfCheck {
  ok: boolean;
  /** What this check found wrong (empty when ok). */
  problems: string[];
  /** The last alarm raised on this device, if any (kept until the profile is reset). */
  alarm: { at: string; problems: string[] } | null;
  kt: KtStatus;
}

export interface VerifyResult {
  user: UserId;
  safetyNumber: string;
  qr: string;
  kt: { verified: boolean; version: number; head: { size: number; root: string } };
  confirmed: boolean;
  changedSinceConfirmed: boolean;
  devices: number;
  /** Every change of this contact's account key this device saw (an admin reset in the log), whether or not confirmed. */
  keyChanges: { at: string; acknowledged: boolean }[];
  /**
   * A new account key of this contact that is not used yet: `pending` in its contest period (until `until`), or
   * `refused` because the contact's own devices objected. The safety number shown is the one with the new key;
   * confirming it (`confirm`/`peer`) makes this device use the key at once.
   */
  keyChange?: { status: 'pending' | 'refused'; retiredAt: number; until?: string; reason?: string };
}

/** A message held back while a recipient's new account key is in its contest period (see trust.ts). */
export interface HeldInfo {
  users: UserId[];
  /** When the last of the recipients' contest periods ends, unless one is objected to first. */
  until: string;
  reason: string;
}

/** A message waiting in the outbox for a recipient's key change to be settled. */
export interface HeldSummary {
  id: string;
  kind: 'chat' | 'mail';
  to: UserId[];
  waitingFor: UserId[];
  createdAt: string;
}

/** What a held message became when its recipients' key change was refused. */
export interface DiscardedSummary {
  id: string;
  kind: 'chat' | 'mail';
  to: UserId[];
  reason: string;
}

/** A held message as kept in the store: what to send, and the ids promised to the user when it was held. */
type HeldRequest =
  | { kind: 'chat'; id: MessageId; conversation: ConversationId; users: UserId[]; text: string; files: string[]; sentAt: number }
  | { kind: 'mail'; id: MessageId; thread: ConversationId; sentAt: number; mail: ComposeRequest };

interface ComposeRequest {
  to: UserId[]; cc: UserId[]; bcc: UserId[]; subject: string; text: string; html?: string | undefined;
  files: string[]; carried: FileRef[]; inReplyTo?: string; references?: string[];
}

export interface OwnDevice {
  id: DeviceId;
  name: string | null;
  createdAt: string;
  lastSeenAt: string | null;
  status: 'active' | 'revoked';
  /** Whether the account-signed device list names it. */
  signed: boolean;
  current: boolean;
}

const KEY_PACKAGE_BATCH = 50;
const LINK_POLL_MS = 1000;
const SELF_CHECK_INTERVAL_MS = 5 * 60_000;
const KEY_PACKAGE_LOW_WATER = 10;
/** What a server that names no key-update interval gets (the server's own default). */
const DEFAULT_KEY_UPDATE_INTERVAL_MS = 7 * 24 * 60 * 60_000;
const MAX_COMMIT_ATTEMPTS = 6;
const MAX_SEND_ATTEMPTS = 6;
/** Processed seqs remembered from pushes before a full pass over the queue is made to forget the acked ones. */
const PROCESSED_SEQS_BEFORE_SYNC = 2000;
/** Errors that mean "try again later", never "this message is bad". */
const transientCodes = new Set(['SERVER_UNREACHABLE', 'UNAUTHENTICATED', 'PROTOCOL_ERROR', 'INTERNAL', 'RATE_LIMITED']);

const nodeWebSocket: WebSocketFactory = (url) => new WebSocket(url, { maxPayload: 2 * limits.maxServerFrameBytes }) as never;

export class SealpostClient {
  private socketPromise: Promise<ServerSocket> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly warn: (m: string) => void;

  private constructor(
    private readonly store: ProfileStore,
    private readonly api: HttpApi,
    private readonly engine: GroupEngine,
    private readonly options: ClientOptions,
    readonly user: UserId,
    readonly device: DeviceId,
    readonly server: string,
  ) {
    this.warn = options.warn ?? (() => {});
  }

  // ---- enrollment and opening ---------------------------------------------------------------------------------

  /** Enroll this device: make the account key and device key here, register, upload KeyPackages. */
  static async enroll(
    params: { server: string; user: string; code: string; profile: string; deviceName?: string },
    options: ClientOptions = {},
  ): Promise<SealpostClient> {
    const { client, store, info } = await SealpostClient.start(params, options);
    const user = client.user;
    try {
      const account = await client.engine.generateSignatureKeyPair();
      const deviceKeys = await client.engine.generateSignatureKeyPair();
      const deviceList = await signDeviceList(client.engine.cs.signature, account.privateKey, {
        user,
        version: 1,
        accountKey: account.publicKey,
        devices: [{ id: client.device, signatureKey: deviceKeys.publicKey, addedAt: Date.now() }],
      });
      client.saveIdentity(info, deviceKeys);
      store.setMeta('account_public', account.publicKey);
      store.setMeta('account_private', account.privateKey);
      store.putKnownUser(user, account.publicKey, 1, Date.now());
      const kps = await client.makeKeyPackages(KEY_PACKAGE_BATCH);
      const lastResort = await client.makeKeyPackages(1, true);
      await client.api.request(
        'POST',
        '/v1/enroll',
        {
          user,
          code: params.code,
          device: client.device,
          ...(params.deviceName ? { deviceName: params.deviceName } : {}),
          deviceList: signedDeviceListToJson(deviceList),
          keyPackages: kps.map(toBase64Url),
          lastResortKeyPackage: toBase64Url(lastResort[0]!),
        },
        'none',
      );
      store.setMeta('enrolled', '1');
      return client;
    } catch (err) {
      discardProfile(store);
      throw err;
    }
  }

  /**
   * Link this (new) device to an account that has a device already: post this device's keys, hand the code to
   * `onCode` (show it, or its QR payload), and wait — up to the request's lifetime, or until `signal` aborts — for
   * the user to approve it on the other device. Then verify the account-signed device list that now names this
   * device, keep the account key it received sealed to it, and fetch what is waiting.
   */
  static async link(
    params: { server: string; user: string; profile: string; deviceName?: string },
    options: ClientOptions & { onCode: (code: LinkCode) => void; signal?: AbortSignal; pollMs?: number },
  ): Promise<SealpostClient> {
    const { client, store, info } = await SealpostClient.start(params, options);
    const { user, server } = client;
    try {
      const deviceKeys = await client.engine.generateSignatureKeyPair();
      const hpke = await newLinkHpkeKeys(client.engine.cs);
      client.saveIdentity(info, deviceKeys);
      const kps = await client.makeKeyPackages(KEY_PACKAGE_BATCH);
      const lastResort = await client.makeKeyPackages(1, true);
      const anon = new HttpApi(server);
      const req = await anon.request<{ code: string; expiresAt: string }>(
        'POST',
        '/v1/link',
        {
          user,
          device: client.device,
          ...(params.deviceName ? { deviceName: params.deviceName } : {}),
          signatureKey: toBase64Url(deviceKeys.publicKey),
          hpkeKey: toBase64Url(hpke.publicKey),
          keyPackages: kps.map(toBase64Url),
          lastResortKeyPackage: toBase64Url(lastResort[0]!),
        },
        'none',
      );
      const fingerprint = linkFingerprint(deviceKeys.publicKey, hpke.publicKey);
      options.onCode({ code: req.code, qr: linkQrPayload({ server, user, code: req.code, fingerprint }), fingerprint, expiresAt: req.expiresAt });
      const deadline = Date.parse(req.expiresAt) + 5_000;
      let sealed: Uint8Array | undefined;
      while (!sealed) {
        if (options.signal?.aborted) throw new SealpostError('LINK_EXPIRED', 'linking was cancelled');
        if (Date.now() > deadline) throw new SealpostError('LINK_EXPIRED', 'the link request expired before it was approved; start again');
        await new Promise((r) => setTimeout(r, options.pollMs ?? LINK_POLL_MS));
        const st = await anon.request<{ status: string; sealed?: string }>('GET', `/v1/link/${req.code}/status?device=${client.device}`, undefined, 'none');
        if (st.status === 'approved' && st.sealed) sealed = fromBase64Url(st.sealed);
      }
      const bundle = await openLinkBundle(client.engine.cs, hpke.privateKey, client.device, sealed);
      // The bundle came from the server's relay: believe it only if the account key it carries signed a device
      // list that names exactly this device with exactly this key.
      const listed = await client.api.request<{ deviceList: { body: string; signature: string } }>('GET', `/v1/users/${encodeURIComponent(user)}/devices`);
      const verdict = await verifyDeviceList(client.engine.cs.signature, signedDeviceListFromJson(listed.deviceList), {
        user,
        pinned: { accountKey: bundle.accountPublic, version: 1 },
      });
      const me = verdict.kind === 'ok' ? verdict.list.devices.find((d) => d.id === client.device) : undefined;
      if (verdict.kind !== 'ok' || !me || !bytesEqual(me.signatureKey, deviceKeys.publicKey)) {
        throw new SealpostError('DEVICE_LIST_INVALID', 'the approved device list does not name this device with its key under the account key received');
      }
      await client.kt.checkDeviceList(user, signedDeviceListFromJson(listed.deviceList).body, verdict.list);
      store.setMeta('account_public', bundle.accountPublic);
      store.setMeta('account_private', bundle.accountPrivate);
      store.putKnownUser(user, bundle.accountPublic, verdict.list.version, Date.now());
      client.importHistory(bundle.history);
      store.setMeta('link_conversations', JSON.stringify(bundle.conversations ?? []));
      store.setMeta('enrolled', '1');
      return client;
    } catch (err) {
      discardProfile(store);
      throw err;
    }
  }

  /** A new profile and client for a new device id, after learning what the server requires (policy, keys). */
  private static async start(params: { server: string; user: string; profile: string }, options: ClientOptions) {
    const user = parseUserId(params.user);
    const server = normaliseServerUrl(params.server);
    const info = await fetchServerInfo(server);
    const store = openNewProfile(params.profile, info, options);
    try {
      return { client: await SealpostClient.build(store, server, user, newDeviceId(), options), store, info };
    } catch (err) {
      discardProfile(store);
      throw err;
    }
  }

  /** Device keys, server facts (organisation key, policy) of a new profile. */
  private saveIdentity(info: ServerInfo, deviceKeys: SignatureKeyPair): void {
    this.store.setMeta('server', this.server);
    this.store.setMeta('user', this.user);
    this.store.setMeta('device', this.device);
    this.store.setMeta('device_sig_public', deviceKeys.publicKey);
    this.store.setMeta('device_sig_private', deviceKeys.privateKey);
    this.rememberServerInfo(info);
  }

  private rememberServerInfo(info: ServerInfo): void {
    const org = fromBase64Url(info.orgKey);
    // Pinned once: a server that later shows another organisation key cannot make this device obey it.
    if (org && org.length === 32 && !this.store.getMeta('org_key')) this.store.setMeta('org_key', org);
    if (info.kt && !this.store.getMeta('kt_keys')) this.store.setMeta('kt_keys', JSON.stringify({ signatureKey: info.kt.signatureKey, vrfKey: info.kt.vrfKey }));
    this.store.setMeta('policy', JSON.stringify(info.policy));
    const period = JSON.parse(this.store.getMetaText('contest_period') ?? 'null') as ContestPeriodState | null;
    this.store.setMeta('contest_period', JSON.stringify(nextContestPeriod(period ?? undefined, info.policy.keyChangeContestMs, Date.now())));
  }

  private importHistory(history: HistoryItem[]): void {
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

  static async open(profile: string, options: ClientOptions = {}): Promise<SealpostClient> {
    const store = ProfileStore.open(profile, { create: false, ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}) });
    if (store.getMetaText('enrolled') !== '1') {
      store.close();
      throw new SealpostError('NOT_ENROLLED', `the profile in ${store.dir} never finished enrolling; remove it and enroll again`);
    }
    const policy = JSON.parse(store.getMetaText('policy') ?? '{}') as Partial<ServerInfo['policy']>;
    if (policy.requirePassphrase && !store.encrypted) {
      store.close();
      throw new SealpostError(
        'PASSPHRASE_REQUIRED',
        `your organisation requires a passphrase on this device's store; set one with \`sealpost profile passphrase --profile ${store.dir}\``,
      );
    }
    const server = store.getMetaText('server')!;
    return SealpostClient.build(store, server, parseUserId(store.getMetaText('user')), store.getMetaText('device') as DeviceId, options);
  }

  private static async build(store: ProfileStore, server: string, user: UserId, device: DeviceId, options: ClientOptions): Promise<SealpostClient> {
    let client: SealpostClient | undefined;
    const api = new HttpApi(server, () => client!.sessionToken(), () => store.setMeta('session_expires', '0'));
    let trust: DeviceTrust | undefined;
    const engine = await GroupEngine.create((identity, key) => trust!.isTrusted(identity, key), nodeCiphersuite());
    const kt = new KtVerifier(engine.cs, api, store, options.ktAuditWaitMs);
    trust = new DeviceTrust(engine.cs, api, store, { user, accountKey: () => store.getMeta('account_public') }, options.warn ?? (() => {}), kt);
    client = new SealpostClient(store, api, engine, options, user, device, server);
    client.trust = trust;
    client.kt = kt;
    const c = client;
    client.files = new FileTransfer(api, store, () => c.sessionToken(), options.testHooks ?? {});
    return client;
  }
  private trust!: DeviceTrust;
  private kt!: KtVerifier;
  private wiped = false;
  private files!: FileTransfer;

  private get deviceKeys(): SignatureKeyPair {
    return { publicKey: this.store.getMeta('device_sig_public')!, privateKey: this.store.getMeta('device_sig_private')! };
  }

  /** Close the connection and the store, after letting an operation in progress finish (at most 10 s). */
  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.chain.catch(() => {}), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    const sock = this.socketPromise;
    this.socketPromise = undefined;
    if (sock) (await sock.catch(() => undefined))?.close();
    this.store.close();
  }

  /** Operations of one client run one at a time (they share MLS state and the local store). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'DEVICE_REVOKED' && !this.wiped) {
          // The server ended our connection; signing in again says why (revoked, disabled, or a wipe to carry out).
          this.store.setMeta('session_expires', '0');
          await this.sessionToken();
        }
        throw err;
      }
    };
    const run = this.chain.then(guarded, guarded);
    this.chain = run.catch(() => {});
    return run;
  }

  // ---- sessions and sockets -----------------------------------------------------------------------------------

  private async sessionToken(): Promise<string> {
    const token = this.store.getMetaText('session_token');
    const expires = Number(this.store.getMetaText('session_expires') ?? 0);
    if (token && expires - Date.now() > 60_000) return token;
    const anon = new HttpApi(this.server);
    const { challenge, domain } = await anon.request<{ challenge: string; domain: string }>('POST', '/v1/auth/challenge', { device: this.device }, 'none');
    const challengeBytes = fromBase64Url(challenge);
    if (!challengeBytes || challengeBytes.length !== 32) throw new SealpostError('PROTOCOL_ERROR', 'server sent a malformed challenge');
    const signature = await signLabelled(this.engine.cs.signature, this.deviceKeys.privateKey, 'auth-challenge', challengeMessage(domain, this.device, challengeBytes));
    let session: { token: string; expiresAt: string } | { wipe: { command: string; signature: string } } | { refused: { kind: string; command: string; signature: string } };
    try {
      session = await anon.request('POST', '/v1/auth/session', { device: this.device, challenge, signature: toBase64Url(signature) }, 'none');
    } catch (err) {
      // The server no longer knows this device's key (AUTH_FAILED): with no organisation-signed reason, that is
      // what an operator who removed the device's row would do to silence it.
      if (err instanceof SealpostError && err.code === 'AUTH_FAILED') throw await this.lockedOut(err.message);
      throw err;
    }
    if ('wipe' in session) return this.carryOutWipe(session.wipe);
    if ('refused' in session) throw await this.refusedWithReason(session.refused);
    this.store.setMeta('session_token', session.token);
    this.store.setMeta('session_expires', String(Date.parse(session.expiresAt)));
    return session.token;
  }

  /**
   * Versions of this account's label that carry another account key or retire it, after a version with this
   * device's key: this account objects, signed with its account key, so contacts who know that key refuse the
   * change. Once per first foreign version; a failure to post is reported and tried again next time.
   */
  private async objectToForeignVersions(versions: { version: number; record: AccountRecord }[]): Promise<void> {
    const accountKey = this.store.getMeta('account_public');
    const accountPrivate = this.store.getMeta('account_private');
    if (!accountKey || !accountPrivate) return;
    let ours = false;
    for (const { version, record } of versions) {
      if (bytesEqual(record.accountKey, accountKey)) {
        ours = true;
        continue;
      }
      if (!ours && this.store.getMetaText('kt_self_version') === undefined) continue; // a first check: records of an earlier account
      if (this.store.getMetaText(`kt_objected:${version}`)) return;
      try {
        const took = await this.kt.object(this.user, version, accountKey, accountPrivate);
        this.store.setMeta(`kt_objected:${version}`, new Date().toISOString());
        this.warn(
          `objected, with your account key, to version ${version} of your account in the key-transparency log` +
            ` (taken by ${[took.server ? 'the server' : '', took.auditors > 0 ? `${took.auditors} auditor(s)` : ''].filter(Boolean).join(' and ')}): contacts who know your key will refuse it` +
            (took.failed.length > 0 ? `; not taken by ${took.failed.join(', ')}` : ''),
        );
      } catch (err) {
        this.warn(`could not publish an objection to version ${version} of your account: ${(err as Error).message}`);
      }
      return;
    }
  }

  /** A refusal the server gives a reason for: believed only with the organisation's signature on it. */
  private async refusedWithReason(r: { kind: string; command: string; signature: string }): Promise<SealpostError> {
    const org = this.store.getMeta('org_key');
    const body = fromBase64Url(r.command);
    const sig = fromBase64Url(r.signature);
    const kind = r.kind === 'disable-user' ? 'disable-user' : 'remove-device';
    const v = org && body && sig ? await verifyOrgCommand(this.engine.cs.signature, org, { body, signature: sig }, { kind, device: this.device }) : undefined;
    if (v?.kind !== 'ok') return this.lockedOut(`the server refused this device with a reason (${r.kind}) your organisation did not sign`);
    return kind === 'disable-user'
      ? new SealpostError('USER_DISABLED', 'your organisation disabled this account (signed by the organisation key)')
      : new SealpostError('DEVICE_REVOKED', 'this device was revoked (signed by the organisation key); enroll or link it again');
  }

  /**
   * The server refuses this device without an organisation-signed reason: an alarm, not a plain error. What the
   * key-transparency log shows for this account is checked without a session (the monitor is public) and told.
   */
  private async lockedOut(why: string): Promise<SealpostError> {
    const problems = [`the server refuses this device without a signed reason (${why})`];
    try {
      const accountKey = this.store.getMeta('account_public');
      const seen = Number(this.store.getMetaText('kt_self_version') ?? 0);
      const monitored = await this.kt.monitor(this.user, Math.max(1, seen), 'none');
      for (const { version, record } of monitored.versions) {
        if (version <= seen || !accountKey || bytesEqual(record.accountKey, accountKey)) continue;
        problems.push(`version ${version} of your account in the log ${record.accountKey.length === 0 ? 'retires it' : 'carries an account key that is not yours'}: none of your devices made it`);
      }
      await this.objectToForeignVersions(monitored.versions.filter((v) => v.version >= seen));
    } catch (err) {
      problems.push(`the key-transparency log could not be checked either (${(err as Error).message})`);
    }
    const at = new Date().toISOString();
    this.store.setMeta('kt_alarm', JSON.stringify({ at, problems }));
    for (const p of problems) this.warn(`KEY TRANSPARENCY ALARM: ${p}`);
    return new SealpostError('KT_ALARM', problems.join('; '));
  }

  private async socket(): Promise<ServerSocket> {
    if (this.socketPromise) {
      const s = await this.socketPromise.catch(() => undefined);
      if (s?.isOpen) return s;
    }
    const connect = async () => {
      const factory = this.options.webSocket ?? nodeWebSocket;
      try {
        return await ServerSocket.connect(factory, this.server, await this.sessionToken());
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'UNAUTHENTICATED') {
          // The stored session was revoked or the server restarted with a new database: get a new one.
          this.store.setMeta('session_expires', '0');
          return ServerSocket.connect(factory, this.server, await this.sessionToken());
        }
        throw err;
      }
    };
    this.socketPromise = connect();
    const sock = await this.socketPromise;
    sock.onPush = (item) => this.onPush?.(item);
    return sock;
  }
  private onPush: ((item: QueueItem) => void) | undefined;

  // ---- key packages -------------------------------------------------------------------------------------------

  private async makeKeyPackages(n: number, lastResort = false): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const kp = await this.engine.createKeyPackage({ user: this.user, device: this.device }, this.deviceKeys);
      this.store.addKeyPackage(kp.ref, kp.publicBytes, kp.privateBytes, lastResort);
      out.push(kp.publicBytes);
    }
    return out;
  }

  /** Upload a new batch when the server holds few one-time KeyPackages for this device. */
  private async replenishKeyPackages(): Promise<void> {
    const { count } = await this.api.request<{ count: number }>('GET', '/v1/keypackages/count');
    if (count >= KEY_PACKAGE_LOW_WATER) return;
    const kps = await this.makeKeyPackages(KEY_PACKAGE_BATCH - count);
    await this.api.request('POST', '/v1/keypackages', { keyPackages: kps.map(toBase64Url) });
  }

  // ---- reading local state ------------------------------------------------------------------------------------

  conversations(): ConversationSummary[] {
    return this.store.listConversations().map((c) => ({ id: c.id, kind: c.kind, members: c.members, status: c.status }));
  }

  /** Chat history from the local store (mail is read with `mailList`/`readMail`). */
  messages(conversation?: ConversationId): ChatMessage[] {
    return this.store.listMessages(conversation).filter((m) => m.kind !== 'mail').map(toChatMessage);
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  /** Send text (and files) to a conversation, or to exactly these users (reusing their chat, or creating one). */
  send(
    target: { conversation: ConversationId } | { to: string[] },
    text: string,
    opts: { files?: string[]; onProgress?: Progress } = {},
  ): Promise<{ conversation: ConversationId; id: MessageId; held?: HeldInfo }> {
    const files = opts.files ?? [];
    if (text.length === 0 && files.length === 0) return Promise.reject(new SealpostError('INVALID_INPUT', 'text: empty message (give text or a file)'));
    if (text.length > limits.maxTextChars) return Promise.reject(new SealpostError('PAYLOAD_TOO_LARGE', `text: longer than ${limits.maxTextChars} characters`));
    if (files.length > limits.maxAttachments) return Promise.reject(new SealpostError('INVALID_INPUT', `at most ${limits.maxAttachments} files per message`));
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.releaseHeldInner();
      for (const f of files) await FileTransfer.checkReadable(f);
      if ('conversation' in target) {
        const conversation = this.requireConversation(target.conversation).id;
        return { conversation, id: await this.sendChat(conversation, newMessageId(), Date.now(), text, files, opts.onProgress) };
      }
      // Resolve the recipients before uploading anything, so a typo costs nothing.
      const users = this.chatUsers(target.to);
      const pending = await this.keyChangesPending(users);
      if (pending.length > 0) {
        // A chat from before the change holds only the old key's devices: the message will start a new one.
        const id = newMessageId();
        const conversation = newConversationId();
        return { conversation, id, held: this.hold({ kind: 'chat', id, conversation, users, text, files, sentAt: Date.now() }, pending) };
      }
      const conversation = this.findChat(users) ?? (await this.createConversation('chat', users));
      return { conversation, id: await this.sendChat(conversation, newMessageId(), Date.now(), text, files, opts.onProgress) };
    });
  }

  private async sendChat(conversation: ConversationId, id: MessageId, sentAt: number, text: string, files: string[], onProgress?: Progress): Promise<MessageId> {
    const attachments = await this.uploadAll(files, onProgress);
    const content: ChatText = { v: 1, type: 'text', id, sentAt, text, ...(attachments.length > 0 ? { attachments } : {}) };
    await this.sendContent(conversation, content);
    return id;
  }

  // ---- messages held while a recipient's key change is contested ------------------------------------------------

  /** The recipients among `users` whose new account key is in its contest period (each verified as far as it goes). */
  private async keyChangesPending(users: UserId[]): Promise<KeyChangePending[]> {
    const pending: KeyChangePending[] = [];
    for (const u of users) {
      try {
        // Looked up afresh: a list cached earlier in a long-running client would miss a key change made since.
        await this.trust.deviceList(u, true);
      } catch (err) {
        if (err instanceof KeyChangePending) pending.push(err);
        else throw err;
      }
    }
    return pending;
  }

  /** Keep a message in the outbox until its recipients' key changes are settled; say why and until when. */
  private hold(request: HeldRequest, pending: KeyChangePending[]): HeldInfo {
    this.store.addHeldSend({ id: request.id, users: pending.map((p) => p.user), request: JSON.stringify(request), createdAt: Date.now() });
    const until = Math.max(...pending.map((p) => p.until));
    return { users: pending.map((p) => p.user), until: new Date(until).toISOString(), reason: pending.map((p) => p.message).join('; ') };
  }

  /** Messages waiting for a recipient's key change to be settled, oldest first. */
  heldMessages(): HeldSummary[] {
    return this.store.listHeldSends().map((h) => {
      const r = JSON.parse(h.request) as HeldRequest;
      const to = r.kind === 'chat' ? r.users : [...r.mail.to, ...r.mail.cc, ...r.mail.bcc];
      return { id: h.id, kind: r.kind, to, waitingFor: h.users, createdAt: new Date(h.createdAt).toISOString() };
    });
  }

  /** Held messages that were discarded because a recipient's key change was refused; each is reported once. */
  takeDiscardedMessages(): DiscardedSummary[] {
    return this.store.takeDiscardedSends().map((h) => {
      const r = JSON.parse(h.request) as HeldRequest;
      const to = r.kind === 'chat' ? r.users : [...r.mail.to, ...r.mail.cc, ...r.mail.bcc];
      return { id: h.id, kind: r.kind, to, reason: h.discarded ?? '' };
    });
  }

  /** Send the held messages whose recipients' keys are now accepted; discard, with a note, those refused. */
  releaseHeld(): Promise<{ sent: number; discarded: number; held: number }> {
    return this.serial(() => this.releaseHeldInner());
  }

  private async releaseHeldInner(): Promise<{ sent: number; discarded: number; held: number }> {
    let sent = 0;
    let discarded = 0;
    let held = 0;
    for (const h of this.store.listHeldSends()) {
      const request = JSON.parse(h.request) as HeldRequest;
      let refused: string | undefined;
      let pending = false;
      for (const u of h.users) {
        try {
          await this.trust.deviceList(u, true);
        } catch (err) {
          if (err instanceof KeyChangePending) pending = true;
          else if (err instanceof SealpostError && err.code === 'ACCOUNT_KEY_CHANGED') refused = err.message;
          else throw err; // not an answer (the network): try again later
        }
      }
      if (refused !== undefined) {
        this.store.discardHeldSend(h.id, refused, Date.now());
        this.warn(`discarded held ${request.kind} message ${h.id}: ${refused}`);
        discarded++;
      } else if (pending) {
        held++;
      } else {
        // Sent first, then forgotten: a crash in between sends it again under the same id (shown once).
        try {
          if (request.kind === 'chat') {
            for (const f of request.files) await FileTransfer.checkReadable(f);
            const conversation = this.store.getConversation(request.conversation)?.id ?? (await this.createConversation('chat', request.users, request.conversation));
            await this.sendChat(conversation, request.id, request.sentAt, request.text, request.files);
          } else {
            await this.composeAndSend(request.mail, undefined, undefined, request);
          }
        } catch (err) {
          if (!(err instanceof SealpostError) || transientCodes.has(err.code)) throw err;
          if (err.code === 'KEY_CHANGE_PENDING') {
            held++;
            continue;
          }
          // It can never go out as it was written (a file gone, a recipient removed): say so instead of retrying forever.
          this.store.discardHeldSend(h.id, `could not be sent: ${err.message}`, Date.now());
          this.warn(`discarded held ${request.kind} message ${h.id}: ${err.message}`);
          discarded++;
          continue;
        }
        this.store.deleteHeldSend(h.id);
        this.warn(`sent held ${request.kind} message ${h.id}: the recipients' new account keys are now accepted`);
        sent++;
      }
    }
    return { sent, discarded, held };
  }

  // ---- mail -------------------------------------------------------------------------------------------------

  /**
   * Send a mail. Each mail starts a thread (a conversation of kind `mail`) with the sender, To and Cc; each Bcc
   * recipient gets an own thread with an own copy that names only them. Everything is checked — recipients exist,
   * files are readable, the mail fits — before anything is uploaded or sent.
   */
  sendMail(draft: MailDraft, opts: { onProgress?: Progress } = {}): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.releaseHeldInner();
      const to = uniqueUsers(draft.to.map(parseUserId));
      const cc = uniqueUsers((draft.cc ?? []).map(parseUserId)).filter((u) => !to.includes(u));
      const bcc = uniqueUsers((draft.bcc ?? []).map(parseUserId)).filter((u) => !to.includes(u) && !cc.includes(u));
      return this.composeAndSend({ to, cc, bcc, subject: draft.subject, text: draft.text, html: draft.html, files: draft.attach ?? [], carried: [] }, undefined, opts.onProgress);
    });
  }

  /** Mail in this device's store, oldest first. `inbox`: received; `sent`: sent from this account. */
  mailList(folder: 'inbox' | 'sent' = 'inbox'): MailSummary[] {
    return this.store
      .listMail()
      .filter((m) => (folder === 'sent' ? m.senderUser === this.user && m.content.copyOf === undefined : m.senderUser !== this.user))
      .map((m) => mailSummary(m.content as unknown as Mail, m.conversation, !m.read));
  }

  /** The whole mail, marked read. */
  readMail(id: string): MailFull {
    const row = this.requireMail(id);
    this.store.markRead(row.conversation, row.id);
    const m = row.content as unknown as Mail;
    return { ...mailSummary(m, row.conversation, false), text: m.text, html: m.html ?? null };
  }

  /**
   * Reply. Reply-all stays in the thread. A reply to the sender alone stays in the thread only when the thread is
   * just the two of you; otherwise it starts a new thread, so nobody else sees it.
   */
  replyMail(id: string, reply: { all?: boolean; text: string; attach?: string[] }, opts: { onProgress?: Progress } = {}): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      const row = this.requireMail(id);
      const orig = row.content as unknown as Mail;
      const fromBcc = orig.bcc !== undefined && orig.from !== this.user;
      const { to, cc } = replyRecipients(orig, this.user, Boolean(reply.all) && !fromBcc);
      if (to.length === 0) throw new SealpostError('INVALID_INPUT', 'nobody to reply to');
      const thread = this.store.getConversation(row.conversation);
      const everyone = new Set<string>([this.user, ...to, ...cc]);
      const sameThread =
        thread?.status === 'active' && thread.members.length === everyone.size && thread.members.every((u) => everyone.has(u));
      return this.composeAndSend(
        {
          to,
          cc,
          bcc: [],
          subject: replySubject(orig.subject),
          text: reply.text,
          files: reply.attach ?? [],
          carried: [],
          inReplyTo: orig.messageId,
          references: [...orig.references, orig.messageId].slice(-100),
        },
        sameThread ? row.conversation : undefined,
        opts.onProgress,
      );
    });
  }

  /** Forward a mail, with its attachments, to new recipients, in a new thread. */
  forwardMail(id: string, fwd: { to: string[]; cc?: string[]; text?: string }): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      const orig = this.requireMail(id).content as unknown as Mail;
      const to = uniqueUsers(fwd.to.map(parseUserId));
      const cc = uniqueUsers((fwd.cc ?? []).map(parseUserId)).filter((u) => !to.includes(u));
      return this.composeAndSend({
        to,
        cc,
        bcc: [],
        subject: forwardSubject(orig.subject),
        text: forwardText(fwd.text, orig),
        ...(orig.html ? { html: orig.html } : {}),
        files: [],
        carried: orig.attachments as FileRef[],
      });
    });
  }

  private requireMail(id: string): MessageRow {
    const row = /^[A-Za-z0-9_-]{8,64}$/.test(id) ? this.store.findMail(id as MessageId) : undefined;
    if (!row) throw new SealpostError('MAIL_NOT_FOUND', `no mail ${id} on this device`);
    return row;
  }

  private async composeAndSend(
    m: ComposeRequest,
    thread?: ConversationId,
    onProgress?: Progress,
    release?: { id: MessageId; thread: ConversationId; sentAt: number },
  ): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    const strip = (us: UserId[]) => us.filter((u) => u !== this.user);
    const to = strip(m.to);
    const cc = strip(m.cc);
    const bcc = strip(m.bcc);
    if (to.length + cc.length === 0) throw new SealpostError('INVALID_INPUT', 'to: name at least one recipient other than yourself');
    if (to.length + cc.length + bcc.length > limits.maxMailRecipients) {
      throw new SealpostError('TOO_MANY_RECIPIENTS', `at most ${limits.maxMailRecipients} recipients (To, Cc and Bcc together)`);
    }
    if (m.subject.length > limits.maxSubjectChars) throw new SealpostError('PAYLOAD_TOO_LARGE', `subject: longer than ${limits.maxSubjectChars} characters`);
    for (const [what, body] of [['body', m.text], ['html', m.html ?? '']] as const) {
      if (body.length > limits.maxMailBodyChars) throw new SealpostError('PAYLOAD_TOO_LARGE', `${what}: longer than ${limits.maxMailBodyChars} characters`);
    }
    if (m.files.length + m.carried.length > limits.maxAttachments) throw new SealpostError('INVALID_INPUT', `at most ${limits.maxAttachments} attachments`);
    const pending = await this.keyChangesPending([...to, ...cc, ...bcc]);
    if (pending.length > 0 && release) throw pending[0]!; // still contested: stays held
    for (const f of m.files) await FileTransfer.checkReadable(f);
    if (pending.length > 0) {
      // A thread from before the change holds only the old key's devices: the mail will start a new thread (its
      // In-Reply-To and References still place it in the conversation for every reader).
      const id = newMessageId();
      const request: HeldRequest = { kind: 'mail', id, thread: newConversationId(), sentAt: Date.now(), mail: m };
      return { id, thread: request.thread, held: this.hold(request, pending) };
    }

    const base = {
      v: 1 as const,
      type: 'mail' as const,
      sentAt: release?.sentAt ?? Date.now(),
      messageId: newMailMessageId(userDomain(this.user)),
      ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
      references: m.references ?? [],
      from: this.user,
      to,
      cc,
      subject: m.subject,
      text: m.text,
      ...(m.html ? { html: m.html } : {}),
    };
    // Size check with stand-in references of the real length, before any upload.
    const standIn = [...m.carried, ...m.files.map(() => m.carried[0] ?? placeholderRef)];
    const probe = encodeContent({ ...base, id: newMessageId(), attachments: standIn, ...(bcc.length > 0 ? { bcc: [bcc[0]!], copyOf: newMessageId() } : {}) });
    if (probe.length > limits.maxMlsMessageBytes - 4096) {
      throw new SealpostError('PAYLOAD_TOO_LARGE', `mail is ${probe.length} bytes; at most ${limits.maxMlsMessageBytes - 4096} fit one message (send large text as an attachment)`);
    }

    const attachments = [...m.carried, ...(await this.uploadAll(m.files, onProgress))];
    const conversation =
      thread ??
      (release && this.store.getConversation(release.thread) ? release.thread : await this.createConversation('mail', uniqueUsers([...to, ...cc]), release?.thread));
    const id = release?.id ?? newMessageId();
    const mail: Mail = { ...base, id, attachments };
    // The sender's own record names all Bcc recipients; each Bcc copy names only its recipient; other copies none.
    await this.sendContent(conversation, mail, { record: true, ...(bcc.length > 0 ? { as: { ...mail, bcc } } : {}) });
    for (const b of bcc) {
      const own = await this.createConversation('mail', [b]);
      // Each Bcc copy gets its own upload of the new files (a fresh key, so other ciphertext and other blob ids):
      // shared ids would let the server tie the Bcc copies to the original. Files carried over from an earlier
      // mail (a forward) keep their ids.
      const files = m.files.length > 0 ? await this.uploadAll(m.files, onProgress) : [];
      await this.sendContent(own, { ...mail, id: newMessageId(), bcc: [b], copyOf: id, attachments: [...m.carried, ...files] }, { record: false });
    }
    return { id, thread: conversation };
  }

  // ---- files --------------------------------------------------------------------------------------------------

  /** Download, verify and decrypt an attachment (by its id, as listed with a message) to `out`. */
  saveAttachment(id: string, out: string, opts: { onProgress?: Progress } = {}): Promise<AttachmentSummary> {
    const raw = this.store.findAttachment(id);
    if (!raw) return Promise.reject(new SealpostError('ATTACHMENT_NOT_FOUND', `no attachment ${id} in this device's messages`));
    const ref = zFileRef.parse(raw) as FileRef;
    return this.files.download(ref, out, opts).then(() => summariseFile(ref));
  }

  /** Delete a message from this device; files no other message here refers to are released on the server. */
  deleteMessage(conversation: ConversationId, id: MessageId): Promise<void> {
    return this.serial(async () => {
      if (!this.store.getMessage(conversation, id)) throw new SealpostError('INVALID_INPUT', `no message ${id} in ${conversation}`);
      const orphans = this.store.deleteMessage(conversation, id);
      for (const blob of orphans) await this.files.release(blob as BlobId);
    });
  }

  private async uploadAll(paths: string[], onProgress?: Progress): Promise<FileRef[]> {
    const refs: FileRef[] = [];
    for (const path of paths) refs.push((await this.files.upload(path, onProgress ? { onProgress } : {})).ref);
    return refs;
  }

  /** Encrypt, persist (state, outbox, history) in one transaction, then deliver. Runs inside `serial`. */
  private async sendContent(
    conversation: ConversationId,
    content: ChatText | Mail,
    history: { record: false } | { record: true; as?: ChatText | Mail } = { record: true },
  ): Promise<void> {
    const plaintext = encodeContent(content);
    if (plaintext.length > limits.maxMlsMessageBytes - 4096) {
      throw new SealpostError('PAYLOAD_TOO_LARGE', `message is ${plaintext.length} bytes; at most ${limits.maxMlsMessageBytes - 4096} fit one message`);
    }
    const blobs = (content.attachments ?? []).map((f) => f.id as BlobId);
    await this.tx(async () => {
      const conv = this.requireConversation(conversation);
      const before = this.loadState(conv);
      const { state, message } = await this.engine.encrypt(before, plaintext);
      this.saveState(conv, before, state);
      this.store.addOutbox({ conversation, id: content.id, epoch: conv.epoch, payload: message, plaintext, blobs });
      if (history.record) {
        this.store.addMessage({
          conversation,
          id: content.id,
          senderUser: this.user,
          senderDevice: this.device,
          sentAt: content.sentAt,
          receivedAt: content.sentAt,
          direction: 'out',
          kind: content.type,
          content: localContent(history.as ?? content),
        });
      }
    });
    await this.flushOutbox();
  }

  private requireConversation(id: ConversationId): ConversationRow {
    const conv = this.store.getConversation(id);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', `no conversation ${id} on this device`);
    if (conv.status !== 'active') throw new SealpostError('NOT_A_MEMBER', `this device was removed from conversation ${id}`);
    return conv;
  }

  /** A store transaction; if it rolls back, cached states that it saved are forgotten too. */
  private async tx<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.store.exclusive(fn);
    } catch (err) {
      this.states.clear();
      throw err;
    }
  }

  /** The decoded group state of a conversation, from this process's cache when it is still current. */
  private loadState(conv: ConversationRow): GroupState {
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
  private readonly states = new Map<ConversationId, { version: number; state: GroupState }>();

  /**
   * Save `after` (in the caller's transaction). With `before`, only what changed is written: usually one
   * secret-tree node per message; the whole state only when the epoch (or anything else) changed.
   */
  private saveState(conv: ConversationRow, before: GroupState | undefined, after: GroupState, extra: Partial<ConversationRow> = {}): void {
    const change = before && conv.stateFormat === 'parts' && Object.keys(extra).length === 0 ? this.engine.stateChange(before, after) : undefined;
    let version: number;
    if (change?.kind === 'none') return;
    if (change?.kind === 'secrets') {
      version = this.store.updateSecretNodes(conv.id, change.changed, Date.now());
    } else {
      const parts = change?.kind === 'full' ? change.parts : this.engine.splitState(after);
      version = this.store.putConversation({
        ...conv,
        ...extra,
        state: parts.base,
        stateFormat: 'parts',
        epoch: this.engine.epoch(after),
        members: uniqueUsers(this.engine.members(after).map((m) => m.user)),
        updatedAt: Date.now(),
      });
      this.store.putSecretNodes(conv.id, parts.secrets);
    }
    this.states.set(conv.id, { version, state: after });
  }


  /** Deliver everything in the outbox, in order. A message overtaken by a commit is re-encrypted for the new epoch. */
  private async flushOutbox(): Promise<void> {
    for (const row of this.store.listOutbox()) {
      let current = row;
      for (let attempt = 1; ; attempt++) {
        try {
          const sock = await this.socket();
          await sock.request({
            t: 'send',
            c: current.conversation,
            e: current.epoch,
            id: current.id,
            p: current.payload,
            ...(current.blobs.length > 0 ? { b: current.blobs } : {}),
          });
          this.store.deleteOutbox(row.seq);
          break;
        } catch (err) {
          if (!(err instanceof SealpostError)) throw err;
          if (err.code === 'EPOCH_CONFLICT' && attempt < MAX_SEND_ATTEMPTS) {
            await this.syncInternal();
            current = await this.tx(async () => {
              const conv = this.requireConversation(row.conversation);
              const before = this.loadState(conv);
              const { state, message } = await this.engine.encrypt(before, row.plaintext);
              this.saveState(conv, before, state);
              this.store.updateOutbox(row.seq, conv.epoch, message);
              return { ...row, epoch: conv.epoch, payload: message };
            });
            continue;
          }
          if (!transientCodes.has(err.code)) this.store.deleteOutbox(row.seq);
          throw err;
        }
      }
    }
  }

  // ---- conversations and membership ---------------------------------------------------------------------------

  private chatUsers(to: string[]): UserId[] {
    const users = uniqueUsers(to.map(parseUserId)).filter((u) => u !== this.user);
    if (users.length === 0) throw new SealpostError('INVALID_INPUT', 'to: name at least one other user');
    if (users.length > limits.maxConversationUsers) throw new SealpostError('INVALID_INPUT', `to: at most ${limits.maxConversationUsers} users`);
    return users;
  }

  private findChat(users: UserId[]): ConversationId | undefined {
    const wanted = [...users, this.user].sort().join(',');
    return this.store.listConversations().find((c) => c.kind === 'chat' && c.status === 'active' && [...c.members].sort().join(',') === wanted)?.id;
  }

  /** Create a conversation and add these users' devices (and this user's other devices). */
  private async createConversation(kind: ConversationKind, users: UserId[], id: ConversationId = newConversationId()): Promise<ConversationId> {
    // Check every user before anything is created, so a typo creates nothing.
    for (const u of users) await this.trust.deviceList(u);
    await this.api.request('POST', '/v1/conversations', { id });
    await this.tx(async () => {
      const state = await this.engine.createGroup(id, { user: this.user, device: this.device }, this.deviceKeys);
      const now = Date.now();
      const parts = this.engine.splitState(state);
      this.store.putConversation({ id, kind, status: 'active', epoch: 0, members: [this.user], state: parts.base, stateFormat: 'parts', createdAt: now, updatedAt: now });
      this.store.putSecretNodes(id, parts.secrets);
    });
    await this.commitChange(id, { addUsers: [...users, this.user] });
    return id;
  }

  addMember(conversation: ConversationId, user: string): Promise<void> {
    const u = parseUserId(user);
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.syncInternal();
      const conv = this.requireConversation(conversation);
      if (conv.members.includes(u)) throw new SealpostError('INVALID_INPUT', `${u} is already a member`);
      await this.trust.deviceList(u, true);
      await this.commitChange(conversation, { addUsers: [u] });
    });
  }

  removeMember(conversation: ConversationId, user: string): Promise<void> {
    const u = parseUserId(user);
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.syncInternal();
      const conv = this.requireConversation(conversation);
      if (!conv.members.includes(u)) throw new SealpostError('INVALID_INPUT', `${u} is not a member`);
      if (u === this.user) throw new SealpostError('INVALID_INPUT', 'removing yourself is not supported yet; ask another member');
      await this.commitChange(conversation, { removeUsers: [u] });
    });
  }

  /**
   * Make and deliver one commit. RFC 9420 §14: the server accepts exactly one commit per epoch; when another
   * member's commit wins, process it and make ours again on top of it.
   */
  /** `update`: commit even without a membership change — fresh keys for this device's own leaf (its path). */
  private async commitChange(conversation: ConversationId, change: { addUsers?: UserId[]; removeUsers?: UserId[]; removeDevices?: DeviceId[]; update?: boolean }): Promise<void> {
    let keyPackages: { device: DeviceId; keyPackage: Uint8Array }[] = [];
    if (change.addUsers && change.addUsers.length > 0) {
      const conv = this.requireConversation(conversation);
      const present = this.engine.members(this.loadState(conv)).map((m) => m.device);
      const res = await this.api.request<{ keyPackages: { device: DeviceId; keyPackage: string }[] }>('POST', '/v1/keypackages/claim', {
        users: change.addUsers,
        exclude: present,
      });
      // The server only relays KeyPackages. Each must be for a device in its user's account-signed device list;
      // anything else (a "ghost" device the server made up) is refused here, before it can join.
      for (const k of res.keyPackages) {
        const bytes = fromBase64Url(k.keyPackage);
        const read = bytes ? await this.engine.readKeyPackage(bytes).catch(() => undefined) : undefined;
        const trusted =
          read !== undefined &&
          read.identity.device === k.device &&
          change.addUsers.includes(read.identity.user) &&
          (await this.trust.isTrusted(read.identity, read.signatureKey));
        if (!trusted) {
          this.warn(`refused a KeyPackage for device ${k.device}: it is not in its user's account-signed device list`);
          continue;
        }
        keyPackages.push({ device: k.device, keyPackage: bytes! });
      }
    }
    for (let attempt = 1; ; attempt++) {
      const pending = await this.tx(async () => {
        const conv = this.requireConversation(conversation);
        const state = this.loadState(conv);
        const members = this.engine.members(state);
        const present = new Set(members.map((m) => m.device));
        const adds = keyPackages.filter((k) => !present.has(k.device));
        const removes = members
          .filter((m) => m.device !== this.device && (change.removeUsers?.includes(m.user) || change.removeDevices?.includes(m.device)))
          .map((m) => m.device);
        if (adds.length === 0 && removes.length === 0 && !change.update) return undefined;
        const result = await this.engine.commit(state, {
          add: adds.map((k) => k.keyPackage),
          removeDevices: removes,
          conversationInfo: encodeConversationInfo({ v: 1, kind: conv.kind }),
        });
        const row = {
          conversation,
          id: newMessageId(),
          epoch: conv.epoch,
          commit: result.commit,
          welcome: result.welcome,
          adds: adds.map((k) => k.device),
          removes,
          newState: this.engine.encodeState(result.state),
          newMembers: uniqueUsers(this.engine.members(result.state).map((m) => m.user)),
        };
        this.store.putPendingCommit(row);
        return row;
      });
      if (!pending) return;
      try {
        await this.options.testHooks?.beforeCommitSend?.();
        await this.deliverPendingCommit(pending);
        return;
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'EPOCH_CONFLICT' && attempt < MAX_COMMIT_ATTEMPTS) {
          this.warn(`conversation ${conversation}: another member's change came first; applying it and retrying (attempt ${attempt + 1})`);
          await this.syncInternal();
          continue;
        }
        throw err;
      }
    }
  }

  /** Send a pending commit; apply it on acceptance, drop it on conflict (the caller decides whether to retry). */
  private async deliverPendingCommit(p: ReturnType<ProfileStore['listPendingCommits']>[number]): Promise<void> {
    try {
      const sock = await this.socket();
      await sock.request({ t: 'commit', c: p.conversation, e: p.epoch, id: p.id, p: p.commit, ...(p.welcome ? { w: p.welcome } : {}), add: p.adds, remove: p.removes });
    } catch (err) {
      if (err instanceof SealpostError && !transientCodes.has(err.code)) this.store.deletePendingCommit(p.conversation);
      throw err;
    }
    await this.tx(async () => {
      const conv = this.store.getConversation(p.conversation);
      if (conv) this.saveState(conv, undefined, this.engine.decodeState(p.newState));
      this.store.deletePendingCommit(p.conversation);
      // Every commit of ours carries a path, so it renews this device's own keys in the conversation.
      this.store.setKeyUpdatedAt(p.conversation, Date.now());
    });
  }

  /** Commits left by an interrupted run are sent again (the server treats a resend of the winner as a no-op). */
  private async flushPendingCommits(): Promise<void> {
    for (const p of this.store.listPendingCommits()) {
      try {
        await this.deliverPendingCommit(p);
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'EPOCH_CONFLICT') continue;
        throw err;
      }
    }
  }

  // ---- receiving ----------------------------------------------------------------------------------------------

  /** Fetch everything pending, process it, ack it; returns the new chat messages. */
  sync(): Promise<Received[]> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.syncInternal();
      await this.applyRemovals();
      await this.flushOutbox();
      await this.replenishKeyPackages();
      await this.applyPolicy();
      await this.monitorSelfInner();
      await this.releaseHeldInner();
      return this.store.takeUnseen().map(toReceived);
    });
  }

  /** Fetch and process the whole queue, in order. New messages are stored as unseen. */
  private async syncInternal(): Promise<void> {
    const sock = await this.socket();
    let after = 0;
    const queued = new Set<number>();
    for (let round = 0; round < 10_000; round++) {
      const batch = await sock.request({ t: 'fetch', after, limit: limits.maxFetchBatch });
      for (const item of batch.items) queued.add(item.seq);
      // Items that did not even pass the frame schema: recorded and acked, so the queue behind them moves on.
      const unreadable = batch.unreadable ?? [];
      for (const u of unreadable) this.skipUnreadable({ seq: u.seq, conversation: undefined, kind: undefined, fromUser: undefined, reason: u.reason });
      sock.ack(unreadable.flatMap((u) => (u.seq === undefined ? [] : [u.seq])));
      await this.processItems(sock, batch.items);
      const seqs = [...batch.items.map((i) => i.seq), ...unreadable.flatMap((u) => (u.seq === undefined ? [] : [u.seq]))];
      if (!batch.more || seqs.length === 0) {
        // A complete pass over the queue: what is processed and no longer queued cannot come again.
        this.store.forgetProcessedExcept(queued);
        return;
      }
      after = Math.max(...seqs);
    }
  }

  /** Record (and say) that a queue item could not be read and was skipped; its seq is acked by the caller. */
  private skipUnreadable(r: Omit<UnreadableRecord, 'at'>): void {
    this.store.recordUnreadable({ ...r, at: Date.now() });
    const what = r.kind ? `a ${r.kind} message` : 'a queue item';
    const from = r.fromUser ? ` from ${r.fromUser}` : '';
    const where = r.conversation ? ` in conversation ${r.conversation}` : '';
    this.warn(`skipped ${what}${from}${where} (seq ${r.seq ?? '?'}) that this device cannot read: ${r.reason}`);
  }

  /** Contacts whose account key changed (an admin reset) since the user last verified them: shown until then. */
  unacknowledgedKeyChanges(): { user: UserId; at: string }[] {
    return this.store.unacknowledgedKeyChanges().map((c) => ({ user: c.user, at: new Date(c.at).toISOString() }));
  }

  /** Queue items this device skipped because it could not read them (newest last). */
  unreadable(): UnreadableRecord[] {
    return this.store.listUnreadable();
  }

  /**
   * Process a batch of queue items in order, in one store transaction (catch-up after being offline writes once,
   * not once per message), then ack them. A transient failure (network) stops the batch: what was processed is
   * committed and acked, the rest comes again.
   */
  private async processItems(sock: ServerSocket, items: QueueItem[]): Promise<void> {
    const acks: number[] = [];
    let welcomed = false;
    let failure: unknown;
    await this.tx(async () => {
      for (const item of items) {
        // An item processed before (a crash before its ack, or pushed and then fetched): just ack it. Processed
        // items are remembered by seq, not by a high-water mark: with several nodes a lower seq can become
        // visible, or be pushed, after a higher one.
        if (!this.store.wasProcessed(item.seq)) {
          try {
            await this.processItem(item);
          } catch (err) {
            failure = err;
            break;
          }
          this.store.markProcessed(item.seq);
        }
        if (item.k === 'welcome') welcomed = true;
        acks.push(item.seq);
      }
    });
    if (acks.length > 0) {
      this.options.testHooks?.beforeAck?.();
      sock.ack(acks);
    }
    if (failure !== undefined) throw failure;
    if (welcomed) await this.replenishKeyPackages().catch((err) => this.warn(`could not upload KeyPackages: ${(err as Error).message}`));
  }

  /**
   * A pushed queue item. Several nodes push independently, so an item can arrive before an earlier one of its
   * conversation that it depends on (a message of an epoch this device has not reached, a commit for a later
   * epoch): then the queue is fetched and processed in order instead, which brings the earlier item first (within
   * a conversation the server's seq order is commit order).
   */
  private async handlePush(sock: ServerSocket, item: QueueItem): Promise<void> {
    const ahead = this.isAheadOfState(item);
    if (ahead) await this.syncInternal();
    else await this.processItems(sock, [item]);
    if (ahead || item.k === 'remove') await this.applyRemovals();
    // Pushes only add to the processed seqs; a full pass over the queue now and then forgets them.
    if (this.store.processedCount() > PROCESSED_SEQS_BEFORE_SYNC) await this.syncInternal();
  }

  /** Whether an unprocessed message or commit is for an epoch (or a conversation) this device has not reached. */
  private isAheadOfState(item: QueueItem): boolean {
    if ((item.k !== 'app' && item.k !== 'commit') || this.store.wasProcessed(item.seq)) return false;
    const conv = this.store.getConversation(item.c);
    return !conv || item.e > conv.epoch;
  }

  /** Process one queue item inside the store transaction. Bad items are reported and skipped; transient errors propagate. */
  private async processItem(item: QueueItem): Promise<void> {
    try {
      switch (item.k) {
        case 'welcome':
          return await this.processWelcome(item);
        case 'commit':
          return await this.processCommit(item);
        case 'app':
          return await this.processApplication(item);
        case 'remove':
          return await this.processRemovalNotice(item);
      }
    } catch (err) {
      if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
      this.skipUnreadable({ seq: item.seq, conversation: item.c, kind: item.k, fromUser: item.fromUser, reason: (err as Error).message });
    }
  }

  private async processWelcome(item: QueueItem): Promise<void> {
    const refs = this.engine.welcomeRefs(item.p);
    const ref = refs.find((r) => this.store.getKeyPackage(r));
    if (!ref) throw new SealpostError('MLS_ERROR', 'Welcome is not addressed to any KeyPackage of this device');
    const kp = this.store.getKeyPackage(ref)!;
    const { state, conversationInfo } = await this.engine.join(item.p, kp);
    const info = conversationInfo ? decodeConversationInfo(conversationInfo) : { v: 1 as const, kind: 'chat' as const };
    if (!kp.lastResort) this.store.deleteKeyPackage(ref);
    const now = Date.now();
    const existing = this.store.getConversation(item.c);
    this.saveState(
      existing ?? { id: item.c, kind: info.kind, status: 'active', epoch: 0, members: [], stateFormat: 'parts', version: 0, createdAt: now, updatedAt: now },
      undefined,
      state,
      { kind: info.kind, status: 'active' },
    );
  }

  private async processCommit(item: QueueItem): Promise<void> {
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'commit for a conversation this device is not in');
    if (item.e < conv.epoch) return; // already applied (our own commit, or seen before)
    if (item.e > conv.epoch) throw new SealpostError('MLS_ERROR', `commit for epoch ${item.e} but this device is at ${conv.epoch}`);
    const before = this.loadState(conv);
    const res = await this.engine.process(before, item.p);
    if (res.kind !== 'commit') throw new SealpostError('MLS_ERROR', 'expected a commit');
    this.saveState(conv, before, res.state, res.selfRemoved ? { status: 'removed' } : {});
  }

  private async processApplication(item: QueueItem): Promise<void> {
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'message for a conversation this device is not in');
    const before = this.loadState(conv);
    const res = await this.engine.process(before, item.p);
    if (res.kind !== 'application') throw new SealpostError('MLS_ERROR', 'expected an application message');
    this.saveState(conv, before, res.state);
    const content = decodeContent(res.plaintext);
    if (content.type === 'unknown') return;
    if (content.type === 'mail' && content.from !== res.sender.user) {
      // The From inside the encryption must be the member who actually sent it.
      throw new SealpostError('MLS_ERROR', `mail claims to be from ${content.from} but was sent by ${res.sender.user}`);
    }
    const row: MessageRow = {
      conversation: item.c,
      id: content.id as MessageId,
      senderUser: res.sender.user,
      senderDevice: res.sender.device,
      sentAt: content.sentAt,
      receivedAt: Date.now(),
      direction: res.sender.user === this.user ? 'out' : 'in',
      kind: content.type,
      read: content.type !== 'mail' || res.sender.user === this.user,
      content: localContent(content),
    };
    // Idempotent receive: a message id already stored (a retry or a replay) is never stored or shown twice.
    this.store.addMessage(row, false);
  }

  // ---- revoked devices, wipe, policy -------------------------------------------------------------------------

  /**
   * An organisation-signed notice that a device was revoked. Checked against the organisation key pinned at
   * enrollment; the removal itself is committed after the batch (it needs the network).
   */
  private async processRemovalNotice(item: QueueItem): Promise<void> {
    const org = this.store.getMeta('org_key');
    const signed = splitNotice(item.p);
    if (!org || !signed) throw new SealpostError('MLS_ERROR', 'removal notice: malformed or no organisation key pinned');
    const v = await verifyOrgCommand(this.engine.cs.signature, org, signed, { kind: 'remove-device', device: item.from });
    if (v.kind !== 'ok') throw new SealpostError('MLS_ERROR', `removal notice refused: ${v.reason}`);
    if (v.command.device === this.device) return;
    this.store.addPendingRemoval(item.c, v.command.device);
    // One of our own devices was revoked (perhaps by an admin, who cannot sign our list): sign it out of the list.
    if (v.command.user === this.user) this.store.setMeta('own_list_dirty', '1');
  }

  /** Re-sign this account's device list without devices the server has revoked. */
  private async tidyOwnList(): Promise<void> {
    const accountPrivate = this.store.getMeta('account_private');
    if (!accountPrivate) return;
    for (let round = 0; round < limits.maxDevicesPerUser; round++) {
      const { list, records } = await this.ownSignedList();
      const gone = records.find((r) => r.revokedAt && list.devices.some((d) => d.id === r.id));
      if (!gone) break;
      const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, { ...list, version: list.version + 1, devices: list.devices.filter((d) => d.id !== gone.id) });
      await this.api.request('POST', '/v1/devices/revoke', { device: gone.id, deviceList: signedDeviceListToJson(signed) });
    }
    this.trust.forget(this.user);
    this.store.setMeta('own_list_dirty', '0');
  }

  /** Commit the removal of revoked devices that are still leaves in our groups (another member may be first). */
  private async applyRemovals(): Promise<void> {
    for (const r of this.store.listPendingRemovals()) {
      const conv = this.store.getConversation(r.conversation);
      try {
        if (conv?.status === 'active') await this.commitChange(r.conversation, { removeDevices: [r.device] });
        this.store.deletePendingRemoval(r.conversation, r.device);
      } catch (err) {
        if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
        this.warn(`could not remove revoked device ${r.device} from ${r.conversation}: ${(err as Error).message}`);
        this.store.deletePendingRemoval(r.conversation, r.device);
      }
    }
    if (this.store.getMetaText('own_list_dirty') === '1') {
      await this.tidyOwnList().catch((err) => {
        if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
        this.warn(`could not update your device list: ${(err as Error).message}`);
        this.store.setMeta('own_list_dirty', '0');
      });
    }
  }

  /**
   * The server says this device is to be wiped. Obey only a command signed by the organisation key pinned at
   * enrollment and naming this device; then erase keys, group state and messages, and confirm.
   */
  private async carryOutWipe(wipe: { command: string; signature: string }): Promise<never> {
    const org = this.store.getMeta('org_key');
    const body = fromBase64Url(wipe.command);
    const signature = fromBase64Url(wipe.signature);
    const v = org && body && signature ? await verifyOrgCommand(this.engine.cs.signature, org, { body, signature }, { kind: 'wipe', device: this.device }) : undefined;
    if (v?.kind !== 'ok') {
      this.warn(`ignored a wipe command that is not signed by your organisation's key for this device (${v?.reason ?? 'malformed'})`);
      throw new SealpostError('DEVICE_REVOKED', 'this device was revoked');
    }
    const receipt = await signWipeReceipt(this.engine.cs.signature, this.deviceKeys.privateKey, body!);
    const dir = this.store.dir;
    this.states.clear();
    this.wiped = true;
    this.store.close();
    ProfileStore.erase(dir);
    await new HttpApi(this.server)
      .request('POST', '/v1/wipe/confirm', { device: this.device, receipt: toBase64Url(receipt) }, 'none')
      .catch((err) => this.warn(`wiped, but could not confirm to the server: ${(err as Error).message}`));
    throw new SealpostError('DEVICE_WIPED', `this device was wiped by your organisation: its keys, conversations and messages in ${dir} are erased`);
  }

  /** Fetch the policy the server publishes; keep it; apply what only the client can (local retention). */
  private async applyPolicy(): Promise<void> {
    const info = await fetchServerInfo(this.server).catch(() => undefined);
    if (info) this.rememberServerInfo(info);
    const policy = JSON.parse(this.store.getMetaText('policy') ?? '{}') as Partial<ServerInfo['policy']>;
    const limits = [policy.retentionDefaultMs, policy.retentionMaxMs].filter((v): v is number => typeof v === 'number');
    if (limits.length > 0) {
      const orphans = this.store.deleteMessagesBefore(Date.now() - Math.min(...limits));
      for (const blob of orphans) await this.files.release(blob as BlobId).catch(() => {});
    }
    // Post-compromise healing on a schedule: a device whose keys leaked is safe again once it commits fresh ones.
    // An older server that sends no interval gets the default week.
    const interval = policy.keyUpdateIntervalMs === undefined ? DEFAULT_KEY_UPDATE_INTERVAL_MS : policy.keyUpdateIntervalMs;
    if (interval !== null) await this.updateKeys((c) => Date.now() - (this.store.keyUpdatedAt(c.id) ?? c.createdAt) >= interval);
  }

  /**
   * Commit fresh keys for this device's own leaf (an MLS update with a path, RFC 9420 §12.4) in every active
   * conversation that `due` picks; returns how many. A conversation that fails is reported and tried next time.
   */
  private async updateKeys(due: (c: ConversationRow) => boolean): Promise<number> {
    let n = 0;
    for (const c of this.store.listConversations()) {
      if (c.status !== 'active' || !due(c)) continue;
      try {
        await this.commitChange(c.id, { update: true });
        n++;
      } catch (err) {
        if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
        this.warn(`could not renew this device's keys in conversation ${c.id}: ${(err as Error).message}`);
      }
    }
    return n;
  }

  /** `sealpost devices rotate`: fresh keys for this device in every conversation now. */
  rotateKeys(): Promise<{ conversations: number }> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.syncInternal();
      return { conversations: await this.updateKeys(() => true) };
    });
  }

  // ---- key transparency: self-monitoring and verification ------------------------------------------------------

  /**
   * Check this account's own label in the log: the latest record must carry this account's key and the hash of a
   * device list signed by it, and the server must hold no active device outside that list. Anything else is a
   * change this user's devices did not make: an alarm (kept until checked again, and reported by `verify --self`).
   */
  monitorSelf(): Promise<SelfCheck> {
    return this.serial(() => this.monitorSelfInner());
  }

  private async monitorSelfInner(): Promise<SelfCheck> {
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
      const lists = await directory(this.ownSignedLists(accountKey), new Map<number, Uint8Array>());
      problems.push(...checkOwnVersions(monitored.versions, monitored.latest, seen, accountKey, lists));
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
      if (problems.length === 0) break;
      // A change made by another of our devices a moment ago can race with this check: look once more.
      await new Promise((r) => setTimeout(r, 300));
    }
    const at = new Date().toISOString();
    if (problems.length > 0) {
      this.store.setMeta('kt_alarm', JSON.stringify({ at, problems }));
      for (const p of problems) this.warn(`KEY TRANSPARENCY ALARM: ${p}`);
    }
    await this.objectToForeignVersions(lastMonitored);
    const alarm = this.store.getMetaText('kt_alarm');
    return { ok: problems.length === 0, problems, alarm: alarm ? (JSON.parse(alarm) as { at: string; problems: string[] }) : null, kt: status! };
  }

  /** Version → hash of each device list of this user, signed by this account key, that the server still holds. */
  private async ownSignedLists(accountKey: Uint8Array): Promise<Map<number, Uint8Array>> {
    const res = await this.api.request<{ deviceList: { body: string; signature: string }; history?: { body: string; signature: string }[] }>(
      'GET',
      `/v1/users/${encodeURIComponent(this.user)}/devices?history=1`,
    );
    const lists = new Map<number, Uint8Array>();
    for (const json of [res.deviceList, ...(res.history ?? []).slice(0, 100)]) {
      const signed = signedDeviceListFromJson(json);
      const v = await verifyDeviceList(this.engine.cs.signature, signed, { user: this.user });
      if (v.kind === 'ok' && bytesEqual(v.list.accountKey, accountKey)) lists.set(v.list.version, deviceListHash(signed.body));
    }
    return lists;
  }

  /**
   * What two users compare: the 60-digit safety number from both account keys (and a QR payload with it and
   * this device's latest verified tree head), the key-transparency status of the other user, and whether the
   * number was confirmed before and has changed since. With `confirm`, record that the user compared it.
   */
  verifyUser(user: string, opts: { confirm?: string; peer?: string } = {}): Promise<VerifyResult> {
    const u = parseUserId(user);
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
        await this.releaseHeldInner();
      }
      // Comparing the current number is what acknowledges a key change (with --confirm or --peer).
      if (opts.confirm !== undefined || opts.peer !== undefined) this.store.acknowledgeKeyChanges(u, Date.now());
      const ackAt = this.store.keyChangesAcknowledgedAt(u);
      const keyChanges = this.store.keyChanges(u).map((c) => ({ at: new Date(c.at).toISOString(), acknowledged: ackAt !== undefined && c.at <= ackAt }));
      const confirmed = this.store.getMetaText(key);
      const head = status.head;
      return {
        user: u,
        safetyNumber: formatSafetyNumber(number),
        qr: `sealpost-verify:v1?${new URLSearchParams({ a: this.user, b: u, sn: number, head: `${head.size}:${head.root}` }).toString()}`,
        kt: { verified: true, version: status.version, head },
        confirmed: confirmed !== undefined,
        changedSinceConfirmed: confirmed !== undefined && confirmed !== number,
        devices: list?.devices.length ?? 0,
        keyChanges,
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

  // ---- devices ------------------------------------------------------------------------------------------------

  /** This account's current signed device list, verified with the account key this device holds. */
  private async ownSignedList(): Promise<{ list: DeviceList; records: { id: DeviceId; name: string | null; createdAt: string; lastSeenAt: string | null; revokedAt: string | null }[] }> {
    const res = await this.api.request<{
      deviceList: { body: string; signature: string } | null;
      devices: { id: DeviceId; name: string | null; createdAt: string; lastSeenAt: string | null; revokedAt: string | null }[];
    }>('GET', '/v1/devices');
    const accountKey = this.store.getMeta('account_public');
    if (!res.deviceList || !accountKey) throw new SealpostError('DEVICE_LIST_INVALID', 'the server holds no device list for this account');
    const known = this.store.getKnownUser(this.user);
    const v = await verifyDeviceList(this.engine.cs.signature, signedDeviceListFromJson(res.deviceList), {
      user: this.user,
      pinned: { accountKey, version: known?.version ?? 1 },
    });
    if (v.kind !== 'ok') throw new SealpostError('DEVICE_LIST_INVALID', `your own device list does not verify: ${v.reason}`);
    this.store.putKnownUser(this.user, accountKey, v.list.version, Date.now());
    return { list: v.list, records: res.devices };
  }

  /** This account's devices: the signed list, with what the server knows of each (name, last seen, revoked). */
  devices(): Promise<OwnDevice[]> {
    return this.serial(async () => {
      let { list, records } = await this.ownSignedList();
      if (records.some((r) => r.revokedAt && list.devices.some((d) => d.id === r.id)) && this.store.getMeta('account_private')) {
        await this.tidyOwnList();
        ({ list, records } = await this.ownSignedList());
      }
      return records.map((r) => ({
        id: r.id,
        name: r.name,
        createdAt: r.createdAt,
        lastSeenAt: r.lastSeenAt,
        status: r.revokedAt ? ('revoked' as const) : ('active' as const),
        signed: list.devices.some((d) => d.id === r.id),
        current: r.id === this.device,
      }));
    });
  }

  /** What a new device asked with this code: who, and its fingerprint to compare with the one it shows. */
  linkRequest(code: string): Promise<LinkRequestInfo> {
    return this.serial(async () => {
      const info = await this.fetchLinkRequest(code);
      return { device: info.device, deviceName: info.deviceName, fingerprint: info.fingerprint, createdAt: info.createdAt };
    });
  }

  private async fetchLinkRequest(code: string) {
    const c = parseLinkCode(code);
    if (!c) throw new SealpostError('LINK_CODE_INVALID', 'not a link code (like ABCDE-12345)');
    const r = await this.api.request<{ device: DeviceId; deviceName: string | null; signatureKey: string; hpkeKey: string; createdAt: string }>('GET', `/v1/link/${c}`);
    const signatureKey = fromBase64Url(r.signatureKey);
    const hpkeKey = fromBase64Url(r.hpkeKey);
    if (!signatureKey || !hpkeKey || signatureKey.length !== 32 || hpkeKey.length !== 32) throw new SealpostError('PROTOCOL_ERROR', 'link request: malformed keys');
    return { ...r, code: c, signatureKey, hpkeKey, fingerprint: linkFingerprint(signatureKey, hpkeKey) };
  }

  /**
   * Approve a new device: sign the next device list with it, seal the account key (and the last `history`
   * messages) to it, and add it to every conversation this device is in. `fingerprint`, when given (from the QR
   * payload or typed by the user), must match the request's.
   */
  /**
   * Right after linking: sync until this device has joined every conversation the approving device said it
   * would add it to (their Welcomes arrive a moment after the approval), or `timeoutMs` passes.
   */
  async awaitLinkedConversations(timeoutMs = 30_000): Promise<{ joined: number; expected: number; received: Received[] }> {
    const expected = JSON.parse(this.store.getMetaText('link_conversations') ?? '[]') as string[];
    const received: Received[] = [];
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; ; round++) {
      received.push(...(await this.sync()));
      const have = new Set(this.conversations().map((c) => c.id as string));
      const joined = expected.filter((id) => have.has(id)).length;
      if (joined === expected.length || Date.now() > deadline) return { joined, expected: expected.length, received };
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** Math.min(round, 3), 1000)));
    }
  }

  approveLink(code: string, opts: { fingerprint?: string; history?: number } = {}): Promise<{ device: DeviceId; conversations: number }> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      const req = await this.fetchLinkRequest(code);
      if (opts.fingerprint !== undefined && opts.fingerprint.replace(/\s/g, '') !== req.fingerprint.replace(/\s/g, '')) {
        throw new SealpostError('FINGERPRINT_MISMATCH', `the request's fingerprint is ${req.fingerprint}, not the one given; do not approve it`);
      }
      const accountPrivate = this.store.getMeta('account_private');
      const accountPublic = this.store.getMeta('account_public');
      if (!accountPrivate || !accountPublic) throw new SealpostError('NOT_ENROLLED', 'this device holds no account key');
      const { list } = await this.ownSignedList();
      const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, {
        ...list,
        version: list.version + 1,
        devices: [...list.devices, { id: req.device, signatureKey: req.signatureKey, addedAt: Date.now() }],
      });
      const count = Math.max(0, Math.min(opts.history ?? 0, 1000));
      const history: HistoryItem[] = this.store.recentMessages(count).map((m) => ({
        conversation: m.conversation,
        id: m.id,
        senderUser: m.senderUser,
        senderDevice: m.senderDevice,
        sentAt: m.sentAt,
        kind: m.kind === 'mail' ? 'mail' : 'text',
        content: JSON.stringify(m.content),
      }));
      const conversations = this.store.listConversations().filter((c) => c.status === 'active').map((c) => c.id);
      const sealed = await sealLinkBundle(this.engine.cs, req.hpkeKey, req.device, { accountPublic, accountPrivate, history, conversations });
      await this.api.request('POST', `/v1/link/${req.code}/approve`, {
        deviceList: signedDeviceListToJson(signed),
        sealedEnc: toBase64Url(sealed.enc),
        sealed: toBase64Url(sealed.ct),
      });
      this.trust.forget(this.user);
      // Bring the new device into every conversation this one is in (a commit claims its KeyPackage).
      await this.syncInternal();
      let joined = 0;
      for (const conv of this.store.listConversations()) {
        if (conv.status !== 'active') continue;
        await this.commitChange(conv.id, { addUsers: [this.user] });
        joined++;
      }
      return { device: req.device, conversations: joined };
    });
  }

  /** Revoke another of this account's devices: a new signed list without it; its conversations remove it. */
  revokeDevice(id: string): Promise<void> {
    return this.serial(async () => {
      if (id === this.device) throw new SealpostError('INVALID_INPUT', 'this is the device you are using; revoke it from another device, or ask an admin');
      const accountPrivate = this.store.getMeta('account_private');
      if (!accountPrivate) throw new SealpostError('NOT_ENROLLED', 'this device holds no account key');
      const { list, records } = await this.ownSignedList();
      if (!records.some((r) => r.id === id)) throw new SealpostError('DEVICE_NOT_FOUND', `no device ${id} in your account`);
      const signed = await signDeviceList(this.engine.cs.signature, accountPrivate, {
        ...list,
        version: list.version + 1,
        devices: list.devices.filter((d) => d.id !== id),
      });
      await this.api.request('POST', '/v1/devices/revoke', { device: id, deviceList: signedDeviceListToJson(signed) });
      this.trust.forget(this.user);
      // The server queued removal notices to every member, this device included: commit them now.
      await this.syncInternal();
      await this.applyRemovals();
    });
  }

  /**
   * Stay connected and hand each new message to `onMessage` until `signal` aborts. Reconnects with backoff.
   */
  watch(onMessage: (m: Received) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let backoff = 500;
      let stopped = false;
      // A revoked or wiped device has nothing to reconnect for: end the watch with that error.
      let monitor: ReturnType<typeof setInterval> | undefined;
      const fatal = (err: unknown) => {
        if (!(err instanceof SealpostError) || !['DEVICE_REVOKED', 'DEVICE_WIPED'].includes(err.code)) return false;
        stopped = true;
        clearInterval(monitor);
        this.onPush = undefined;
        reject(err);
        return true;
      };
      const stop = () => {
        stopped = true;
        this.onPush = undefined;
        void this.socketPromise?.then((s) => s.close()).catch(() => {});
        resolve();
      };
      signal.addEventListener('abort', stop, { once: true });
      const loop = async () => {
        while (!stopped) {
          try {
            const closed = new Promise<void>((res) => {
              void (async () => {
                await this.serial(() => this.flushPendingCommits());
                const sock = await this.socket();
                sock.onClose = () => res();
                let stalled = false;
                this.onPush = (item) => {
                  void this.serial(async () => {
                    if (stalled) return;
                    try {
                      await this.handlePush(sock, item);
                      for (const m of this.store.takeUnseen()) onMessage(toReceived(m));
                    } catch (err) {
                      if (fatal(err)) return;
                      // Stop taking pushes; a fresh connection fetches from the queue in order.
                      stalled = true;
                      this.warn(`processing stopped: ${(err as Error).message}; reconnecting`);
                      sock.close();
                    }
                  });
                };
                await this.serial(async () => {
                  await this.syncInternal();
                  await this.applyRemovals();
                  await this.flushOutbox();
                  for (const m of this.store.takeUnseen()) onMessage(toReceived(m));
                });
                backoff = 500;
              })().catch((err) => {
                if (!fatal(err)) this.warn(`connection problem: ${(err as Error).message}`);
                res();
              });
            });
            await closed;
          } catch (err) {
            this.warn(`connection problem: ${(err as Error).message}`);
          }
          if (stopped) break;
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 30_000);
        }
      };
      // The own label is checked again every few minutes while watching (and on every sync).
      // So is the policy, with its scheduled key updates: a device that only ever watches heals too.
      monitor = setInterval(() => {
        void this.monitorSelf().catch((err) => this.warn(`key-transparency self-check failed: ${(err as Error).message}`));
        void this.serial(() => this.applyPolicy()).catch((err) => this.warn(`applying the policy failed: ${(err as Error).message}`));
        void this.releaseHeld().catch((err) => this.warn(`held messages stay held: ${(err as Error).message}`));
      }, this.options.selfCheckIntervalMs ?? SELF_CHECK_INTERVAL_MS);
      monitor.unref?.();
      signal.addEventListener('abort', () => clearInterval(monitor), { once: true });
      if (signal.aborted) stop();
      else void loop();
    });
  }
}

/** Stands in for a real file reference when checking a mail's size before uploading (same encoded length). */
const placeholderRef: FileRef = {
  id: 'b_AAAAAAAAAAAAAAAAAAAAAA' as BlobId,
  key: 'A'.repeat(43),
  hash: 'A'.repeat(43),
  size: Number.MAX_SAFE_INTEGER,
  chunkSize: 1024 * 1024,
  name: 'n'.repeat(255),
  type: 't'.repeat(127),
};

function uniqueUsers(users: UserId[]): UserId[] {
  return [...new Set(users)].sort();
}

function toChatMessage(m: MessageRow): ChatMessage {
  const files = (m.content.attachments ?? []) as FileRef[];
  return {
    type: 'message',
    conversation: m.conversation,
    id: m.id,
    from: m.senderUser,
    sentAt: new Date(m.sentAt).toISOString(),
    text: typeof m.content.text === 'string' ? m.content.text : '',
    ...(files.length > 0 ? { attachments: files.map(summariseFile) } : {}),
  };
}

function toReceived(m: MessageRow): Received {
  return m.kind === 'mail' ? mailSummary(m.content as unknown as Mail, m.conversation, !m.read) : toChatMessage(m);
}

/** What the local store keeps of a message: the whole content (keys of attachments included; the profile is private). */
function localContent(c: ChatText | Mail): Record<string, unknown> {
  return { ...c } as Record<string, unknown>;
}

export function normaliseServerUrl(s: string): string {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new SealpostError('INVALID_INPUT', `server: not a URL (${JSON.stringify(s.slice(0, 100))})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SealpostError('INVALID_INPUT', 'server: must be an http:// or https:// URL');
  return url.origin;
}


async function fetchServerInfo(server: string): Promise<ServerInfo> {
  const info = await new HttpApi(server).request<ServerInfo>('GET', '/v1/info', undefined, 'none');
  if (typeof info?.orgKey !== 'string' || typeof info.policy !== 'object' || info.policy === null) {
    throw new SealpostError('PROTOCOL_ERROR', `${server} did not describe itself as a Sealpost server (GET /v1/info)`);
  }
  return info;
}

/** A new profile, encrypted when a passphrase is given; refused before anything is written when policy needs one. */
function openNewProfile(dir: string, info: ServerInfo, options: ClientOptions): ProfileStore {
  if (info.policy.requirePassphrase && !options.passphrase) {
    throw new SealpostError('PASSPHRASE_REQUIRED', 'your organisation requires a passphrase for the local store; set SEALPOST_PASSPHRASE or enter one when asked');
  }
  return ProfileStore.open(dir, { create: true, ...(options.passphrase ? { passphrase: options.passphrase } : {}) });
}

/** Never leave a half-made profile behind: the next attempt starts clean. */
function discardProfile(store: ProfileStore): void {
  store.close();
  ProfileStore.erase(store.dir);
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
