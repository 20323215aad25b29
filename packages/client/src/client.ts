// SealpostClient: one enrolled device, the SDK's front door. It holds every key; the server only ever sees MLS
// ciphertext. The work is done by parts, each in a file named for it and each calling only those below it:
//   core/client-core.ts  store, API, MLS engine, trust, KT verifier; the serial queue, transactions, group states
//   core/session.ts      sign-in, the WebSocket, refusals (signed or an alarm), wipe
//   receiving.ts         queue items in order → state + message saved together → ack
//   own-devices.ts       this account's signed device list
//   membership.ts        commits: create, add, remove, key updates; a narrow re-sync when another commit wins
//   sending.ts, mail-sending.ts   encrypt → persist → deliver; messages held on a contested key change
//   held.ts              held messages sent or discarded when the contest ends
//   policy.ts, self-monitor.ts, devices.ts, watch.ts   policy, key transparency, devices, the live connection
import {
  GroupEngine,
  SealpostError,
  bytesEqual,
  fromBase64Url,
  linkFingerprint,
  linkQrPayload,
  newDeviceId,
  parseUserId,
  randomBytes,
  signDeviceList,
  signedDeviceListFromJson,
  signedDeviceListToJson,
  toBase64Url,
  verifyDeviceList,
  zFileRef,
  type AttachmentSummary,
  type BlobId,
  type ConversationId,
  type DeviceId,
  type FileRef,
  type Mail,
  type MessageId,
  type UserId,
  type LegalHold,
  summariseFile,
} from '@sealpost/protocol';
import { HttpApi } from './http-api.js';
import type { ClientPlatform, FileSource, FileTarget, Progress } from './platform.js';
import { derivedMailKey, mailSummary, type MailFull, type MailSummary } from './mail.js';
export type { WatchHooks } from './watch.js';
import type { ProfileStorage, UnreadableRecord } from './profile-storage.js';
import type { ServerSocket } from './socket.js';
import { DeviceTrust } from './trust.js';
import { KtVerifier } from './kt-verifier.js';
import { ClientCore } from './core/client-core.js';
import { enrollDevice, linkDevice } from './enrollment.js';
import { Session } from './core/session.js';
import { OutsideMail, isOutsideAttachmentId, type OutsideKey } from './outside-mail.js';
import { acknowledgeHolds } from './legal-hold.js';

export const MAX_DERIVED_MAIL_BYTES = 512 * 1024;
/** Drafts kept on a device (client.saveDraft): as large as a message a mail program may submit, and this many. */
export const MAX_DRAFT_BYTES = 26 * 1024 * 1024;
export const MAX_DRAFTS = 1000;
const DRAFT_ID = /^dr_[A-Za-z0-9_-]{22}$/;
import { Receiver } from './receiving.js';
import { OwnDevices } from './own-devices.js';
import { Membership } from './membership.js';
import { Sender } from './sending.js';
import { MailSender } from './mail-sending.js';
import { HeldRelease } from './held.js';
import { PolicyApplier } from './policy.js';
import { SelfMonitor } from './self-monitor.js';
import { Devices } from './devices.js';
import { Watcher, type WatchHooks } from './watch.js';
import { toChatMessage, toReceived } from './received.js';
import { fetchServerInfo, normaliseServerUrl } from './server-info.js';
import type {
  ChatMessage,
  ClientOptions,
  ConversationSummary,
  DiscardedSummary,
  HeldInfo,
  HeldSummary,
  LinkCode,
  LinkRequestInfo,
  MailDraft,
  OwnDevice,
  Received,
  SelfCheck,
  ServerInfo,
  VerifyResult,
} from './types.js';

export * from './types.js';
export { normaliseServerUrl } from './server-info.js';

/**
 * The same class in Node and in a browser: what differs (storage, crypto, sockets, files) comes from the runtime's
 * `ClientPlatform`, which the entry point supplies as a subclass (client.node.ts, packages/web's browser client).
 */
export class SealpostClient {
  /** The runtime this client class runs on; the entry point's subclass overrides it. */
  protected static platform(): ClientPlatform {
    throw new SealpostError('INTERNAL', 'no platform: use SealpostClient from @sealpost/client (Node) or from the web client');
  }
  private readonly session: Session;
  private readonly outside: OutsideMail;
  private readonly receiver: Receiver;
  private readonly membership: Membership;
  private readonly sender: Sender;
  private readonly mail: MailSender;
  private readonly held: HeldRelease;
  private readonly policy: PolicyApplier;
  private readonly selfMonitor: SelfMonitor;
  private readonly devicesPart: Devices;
  private readonly watcher: Watcher;

  protected constructor(private readonly core: ClientCore) {
    // Wired bottom-up: each part gets only the parts below it, and narrow functions where a lower one must reach up.
    this.session = new Session(core);
    this.outside = new OutsideMail(core, this.session);
    this.receiver = new Receiver(core, this.session, this.outside);
    const resync = () => this.receiver.syncInternal();
    const own = new OwnDevices(core);
    this.membership = new Membership(core, this.session, own, resync);
    // Before a new message: pending commits go out, and held messages go first when they can.
    const beforeSend = async () => {
      await this.membership.flushPendingCommits();
      await this.held.releaseHeldInner();
    };
    this.sender = new Sender(core, this.session, this.membership, resync, beforeSend);
    this.mail = new MailSender(core, this.membership, this.sender, beforeSend);
    this.held = new HeldRelease(core, this.membership, this.sender, this.mail);
    this.policy = new PolicyApplier(core, this.membership);
    this.selfMonitor = new SelfMonitor(core, this.session, this.held);
    this.devicesPart = new Devices(core, own, this.receiver, this.membership, () => this.sync());
    this.watcher = new Watcher(core, this.session, this.receiver, this.membership, this.sender, this.policy, this.selfMonitor, this.held);
  }

  get user(): UserId {
    return this.core.user;
  }
  get device(): DeviceId {
    return this.core.device;
  }
  get server(): string {
    return this.core.server;
  }

  // ---- enrollment and opening ---------------------------------------------------------------------------------

  /** Enroll this device: make the account key and device key here, register, upload KeyPackages. */
  static async enroll(
    this: ClientClass,
    params: { server: string; user: string; code: string; profile: string; deviceName?: string },
    options: ClientOptions = {},
  ): Promise<SealpostClient> {
    const { client, store, info } = await this.start(params, options);
    try {
      await enrollDevice(client.core, params, info);
      store.setMeta('enrolled', '1');
      return client;
    } catch (err) {
      this.platform().discardProfile(store);
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
    this: ClientClass,
    params: { server: string; user: string; profile: string; deviceName?: string },
    options: ClientOptions & { onCode: (code: LinkCode) => void; signal?: AbortSignal; pollMs?: number },
  ): Promise<SealpostClient> {
    const { client, store, info } = await this.start(params, options);
    try {
      await linkDevice(client.core, params, info, options);
      store.setMeta('enrolled', '1');
      return client;
    } catch (err) {
      this.platform().discardProfile(store);
      throw err;
    }
  }

  /** A new profile and client for a new device id, after learning what the server requires (policy, keys). */
  private static async start(this: ClientClass, params: { server: string; user: string; profile: string }, options: ClientOptions) {
    const server = normaliseServerUrl(params.server);
    const info = await fetchServerInfo(server);
    // `bob` is bob at the server's domain, as everywhere a user is named.
    const name = params.user.trim();
    const user = parseUserId(name.includes('@') ? name : `${name}@${info.domain}`);
    if (info.policy.requirePassphrase && !options.passphrase) {
      throw new SealpostError('PASSPHRASE_REQUIRED', 'your organisation requires a passphrase for the local store; set SEALPOST_PASSPHRASE or enter one when asked');
    }
    const platform = this.platform();
    const store = await platform.openProfile(params.profile, { create: true, ...(options.passphrase ? { passphrase: options.passphrase } : {}) });
    try {
      return { client: await this.build(store, server, user, newDeviceId(), options), store, info };
    } catch (err) {
      platform.discardProfile(store);
      throw err;
    }
  }

  static async open(this: ClientClass, profile: string, options: ClientOptions = {}): Promise<SealpostClient> {
    const store = await this.platform().openProfile(profile, { create: false, ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}) });
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
    return this.build(store, server, parseUserId(store.getMetaText('user')), store.getMetaText('device') as DeviceId, options);
  }

  private static async build(this: ClientClass, store: ProfileStorage, server: string, user: UserId, device: DeviceId, options: ClientOptions): Promise<SealpostClient> {
    const platform = this.platform();
    let client: SealpostClient | undefined;
    const api = new HttpApi(server, () => client!.session.sessionToken(), () => store.setMeta('session_expires', '0'));
    let trust: DeviceTrust | undefined;
    const engine = await GroupEngine.create((identity, key) => trust!.isTrusted(identity, key), platform.ciphersuite(), platform.suiteImpl);
    const kt = new KtVerifier(engine.cs, api, store, options.ktAuditWaitMs, options.warn ?? (() => {}));
    trust = new DeviceTrust(engine.cs, api, store, { user, accountKey: () => store.getMeta('account_public') }, options.warn ?? (() => {}), kt);
    const files = platform.files(api, store, () => client!.session.sessionToken(), options.testHooks ?? {});
    const Self = this as unknown as new (core: ClientCore) => SealpostClient;
    client = new Self(new ClientCore(store, api, engine, options, user, device, server, trust, kt, files, platform));
    return client;
  }

  /** Close the connection and the store, after letting an operation in progress finish (at most 10 s). */
  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.core.chain.catch(() => {}), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    const sock = this.session.socketPromise;
    this.session.socketPromise = undefined;
    if (sock) (await sock.catch(() => undefined))?.close();
    this.store.close();
  }

  // ---- reading local state ------------------------------------------------------------------------------------

  conversations(): ConversationSummary[] {
    return this.store.listConversations().map((c) => {
      const name = this.core.conversationName(c.id)?.name;
      const archived = c.status === 'active' ? this.sender.archivedOf(c.id) : undefined;
      return { id: c.id, kind: c.kind, members: c.members, status: c.status, suite: this.core.suiteOf(c.id), ...(name ? { name } : {}), ...(archived ? { archived } : {}) };
    });
  }

  /**
   * Confirm that this device's user has seen these legal holds (the `holds` of an ArchiveNotAcknowledged, or of a
   * conversation's `archived` mark): sending where they record is allowed from now on.
   */
  acknowledgeArchived(holdIds: string[]): void {
    acknowledgeHolds(this.store, holdIds.filter((id) => /^[A-Za-z0-9_-]{16,64}$/.test(id)).slice(0, 1000));
  }

  /**
   * The legal hold (in force or released) the key-transparency log commits to for `user`, checked against the
   * organisation key — or undefined when the log shows none.
   */
  holdOf(user: string): Promise<LegalHold | undefined> {
    return this.serial(async () => {
      const u = this.core.qualify(user);
      await this.core.trust.deviceList(u, true);
      return this.core.trust.holdOf(u);
    });
  }

  /**
   * The archive service's report of an export to the server's audit log (who, when, which user and period, counts,
   * the manifest's hash — never content). Only the organisation's archive account may.
   */
  async reportArchiveExport(report: { user: UserId; from?: string; to?: string; chats: number; mails: number; manifest: string }): Promise<void> {
    await this.core.api.request('POST', '/v1/archive/exports', report);
  }

  /** Chat history from the local store: the newest `last` messages (default 1,000), oldest first. */
  messages(conversation?: ConversationId, opts: { last?: number } = {}): ChatMessage[] {
    const last = Math.max(1, Math.min(opts.last ?? 1000, 1_000_000));
    return this.store.listMessages(conversation, Number.MAX_SAFE_INTEGER).filter((m) => m.kind !== 'mail').slice(-last).map(toChatMessage);
  }

  /** Contacts whose account key changed (an admin reset) since the user last verified them: shown until then. */
  unacknowledgedKeyChanges(): { user: UserId; at: string }[] {
    return this.selfMonitor.unacknowledgedKeyChanges();
  }

  /** Queue items this device skipped because it could not read them (newest last). */
  unreadable(): UnreadableRecord[] {
    return this.receiver.unreadable();
  }

  // ---- chat, mail, files --------------------------------------------------------------------------------------

  /** Send text (and files) to a conversation, or to exactly these users (reusing their chat, or creating one). */
  send(target: { conversation: ConversationId } | { to: string[] }, text: string, opts: { files?: FileSource[]; onProgress?: Progress } = {}): Promise<{ conversation: ConversationId; id: MessageId; held?: HeldInfo }> {
    return this.sender.send(target, text, opts);
  }

  /** Name a conversation for all its members (at most 100 characters; an empty name removes it). */
  renameConversation(conversation: ConversationId, name: string): Promise<void> {
    return this.sender.renameConversation(conversation, name);
  }

  /** Messages waiting for a recipient's key change to be settled, oldest first. */
  heldMessages(): HeldSummary[] {
    return this.sender.heldMessages();
  }

  /** Held messages that were discarded because a recipient's key change was refused; each is reported once. */
  takeDiscardedMessages(): DiscardedSummary[] {
    return this.sender.takeDiscardedMessages();
  }

  /** Send the held messages whose recipients' keys are now accepted; discard, with a note, those refused. */
  releaseHeld(): Promise<{ sent: number; discarded: number; held: number }> {
    return this.held.releaseHeld();
  }

  /**
   * Send a mail: a thread with the sender, To and Cc; each Bcc recipient gets an own copy. Addresses outside the
   * organisation's domain get one outgoing copy (outside-mail.ts): OpenPGP-encrypted when every one of their keys is
   * known; otherwise readable, and only with `allowReadable` (the CLI asks first) and a policy that allows it.
   */
  async sendMail(
    draft: MailDraft,
    opts: { onProgress?: Progress; allowReadable?: boolean } = {},
  ): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo; outside?: { recipients: string[]; encrypted: boolean; messageId: string } }> {
    const domain = this.user.slice(this.user.indexOf('@') + 1);
    const isOutside = (a: string) => a.includes('@') && a.slice(a.lastIndexOf('@') + 1).toLowerCase() !== domain;
    const outTo = draft.to.filter(isOutside);
    const outCc = (draft.cc ?? []).filter(isOutside);
    if (outTo.length + outCc.length === 0) return this.mail.sendMail(draft, opts);
    if ((draft.bcc ?? []).some(isOutside)) throw new SealpostError('INVALID_INPUT', 'Bcc to outside addresses is not supported yet; put them in To or Cc, or send separately');
    if ((draft.attach ?? []).length > 0) throw new SealpostError('INVALID_INPUT', 'attachments to outside addresses are not supported yet');
    const mime = this.core.platform.mime;
    if (!mime) throw new SealpostError('INVALID_INPUT', 'mail to outside addresses is not available on this platform yet (use the CLI)');
    const inTo = draft.to.filter((a) => !isOutside(a));
    const inCc = (draft.cc ?? []).filter((a) => !isOutside(a));
    const policy = (JSON.parse(this.store.getMetaText('policy') ?? '{}') as { outsideMail?: 'openpgp-only' | 'tls-allowed' | 'off' }).outsideMail ?? 'tls-allowed';
    // Internal recipients stay on MLS; the outside copy names them too, so a reply-all reaches everyone.
    const inside = inTo.length + inCc.length > 0 ? await this.mail.sendMail({ ...draft, to: inTo, cc: inCc }, opts) : undefined;
    const insideMail = inside ? (this.store.findMail(inside.id)?.content as { messageId?: string } | undefined) : undefined;
    const sent = await this.serial(() =>
      this.outside.send(
        mime,
        {
          to: outTo,
          cc: outCc,
          insideTo: inTo.map((u) => this.core.qualify(u)),
          insideCc: inCc.map((u) => this.core.qualify(u)),
          subject: draft.subject,
          text: draft.text,
          ...(draft.html ? { html: draft.html } : {}),
          ...(insideMail?.messageId ? { messageId: insideMail.messageId } : {}),
          ...(inside ? { thread: inside.thread } : {}),
          ...(draft.inReplyTo ? { inReplyTo: draft.inReplyTo, references: draft.references ?? [] } : {}),
        },
        { policy, allowReadable: opts.allowReadable ?? false },
      ),
    );
    const outside = { recipients: sent.recipients, encrypted: sent.encrypted, messageId: sent.messageId };
    return inside ? { ...inside, outside } : { id: sent.id, thread: sent.thread, outside };
  }

  /** Whether mail to these outside addresses would leave readable (no OpenPGP key known for some of them). */
  outsideWithoutKey(addresses: string[]): string[] {
    const known = new Set(this.outside.knownKeys().map((k) => k.address));
    return addresses.map((a) => a.toLowerCase()).filter((a) => !known.has(a));
  }

  /** `contacts import-key`: an outside person's OpenPGP public key (armored or binary). */
  importOutsideKey(data: Uint8Array | string): Promise<OutsideKey[]> {
    return this.serial(() => this.outside.importKey(data));
  }

  /** Outside people's keys this device knows, with fingerprints. */
  outsideKeys(): OutsideKey[] {
    return this.outside.knownKeys();
  }

  /** This account's OpenPGP key: fingerprint and armored public key. */
  ownOpenpgpKey(): Promise<{ address: string; fingerprint: string; armored: string }> {
    return this.outside.ownKey();
  }

  private mailKeysCheckedUnder: string | undefined;
  /**
   * Accounts enrolled before outside mail existed publish mail keys from a device holding the account key, and an
   * X25519 intake key becomes X-Wing once the policy is pq-hybrid: checked once per run and again when the policy's
   * suite changes.
   */
  private async publishMailKeysOnce(): Promise<void> {
    const suite = this.core.policySuite();
    if (this.mailKeysCheckedUnder === suite) return;
    this.mailKeysCheckedUnder = suite;
    await this.outside.ensurePublished().catch((err) => this.core.warn(`mail keys not published yet: ${(err as Error).message}`));
  }

  /** Mail in this device's store, oldest first. `inbox`: received; `sent`: sent from this account. */
  mailList(folder: 'inbox' | 'sent' = 'inbox'): MailSummary[] {
    return this.mail.mailList(folder);
  }

  /** The whole mail, marked read. */
  readMail(id: string): MailFull {
    return this.mail.readMail(id);
  }

  /** The whole mail without marking it read (the IMAP bridge's BODY.PEEK). */
  peekMail(id: string): MailFull {
    return this.mail.peekMail(id);
  }

  /** Mark a mail read. */
  markMailRead(id: string): void {
    this.mail.markMailRead(id);
  }

  /** Reply (reply-all stays in the thread). */
  replyMail(id: string, reply: { all?: boolean; text: string; attach?: FileSource[] }, opts: { onProgress?: Progress } = {}): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.mail.replyMail(id, reply, opts);
  }

  /** Forward a mail, with its attachments, to new recipients, in a new thread. */
  forwardMail(id: string, fwd: { to: string[]; cc?: string[]; text?: string }): Promise<{ id: MessageId; thread: ConversationId; held?: HeldInfo }> {
    return this.mail.forwardMail(id, fwd);
  }

  /** Download, verify and decrypt an attachment (by its id, as listed with a message) to `out`. */
  saveAttachment(id: string, out: FileTarget, opts: { onProgress?: Progress; overwrite?: boolean } = {}): Promise<AttachmentSummary> {
    // An attachment of outside mail is kept on the device (it came inside the message, not as a blob).
    if (isOutsideAttachmentId(id)) return this.outside.saveAttachment(id, out, opts) as Promise<AttachmentSummary>;
    const raw = this.store.findAttachment(id);
    if (!raw) return Promise.reject(new SealpostError('ATTACHMENT_NOT_FOUND', `no attachment ${id} in this device's messages`));
    const ref = zFileRef.parse(raw) as FileRef;
    return this.core.files.download(ref, out, opts).then(() => summariseFile(ref));
  }

  /** Delete a message from this device; files no other message here refers to are released on the server. */
  deleteMessage(conversation: ConversationId, id: MessageId): Promise<void> {
    return this.serial(async () => {
      const row = this.store.getMessage(conversation, id);
      if (!row) throw new SealpostError('INVALID_INPUT', `no message ${id} in ${conversation}`);
      this.outside.forgetAttachments(row.content);
      this.store.setMeta(derivedMailKey(id), new Uint8Array(0));
      const orphans = this.store.deleteMessage(conversation, id);
      for (const blob of orphans) await this.core.files.release(blob as BlobId);
    });
  }

  // ---- membership ---------------------------------------------------------------------------------------------

  /** Add a user (all their devices) to a conversation. */
  addMember(conversation: ConversationId, user: string): Promise<void> {
    return this.membership.addMember(conversation, user);
  }

  /** Remove a user; their devices cannot read anything sent afterwards. */
  removeMember(conversation: ConversationId, user: string): Promise<void> {
    return this.membership.removeMember(conversation, user);
  }

  /** `sealpost devices rotate`: fresh keys for this device in every conversation now. */
  rotateKeys(): Promise<{ conversations: number }> {
    return this.membership.rotateKeys();
  }

  // ---- receiving ----------------------------------------------------------------------------------------------

  /** Fetch everything pending, process it, ack it; returns the new chat messages. */
  sync(): Promise<Received[]> {
    return this.serial(async () => {
      await this.membership.flushPendingCommits();
      await this.receiver.syncInternal();
      await this.membership.applyRemovals();
      await this.sender.flushOutbox();
      await this.core.replenishKeyPackages();
      await this.policy.applyPolicy();
      await this.selfMonitor.monitorSelfInner();
      await this.held.releaseHeldInner();
      await this.publishMailKeysOnce();
      return this.store.takeUnseen().map(toReceived);
    });
  }

  /** Stay connected and hand each new message to `onMessage` until `signal` aborts. Reconnects with backoff. */
  watch(onMessage: (m: Received) => void, signal: AbortSignal, hooks: WatchHooks = {}): Promise<void> {
    return this.watcher.watch(onMessage, signal, hooks);
  }

  // ---- this device's own settings and search ------------------------------------------------------------------

  /**
   * What an app derives from a mail and keeps beside it in the encrypted profile (the IMAP bridge's rendered form of
   * it): read back as bytes, gone when the mail is deleted. At most MAX_DERIVED_MAIL_BYTES.
   */
  derivedMail(id: string): Uint8Array | undefined {
    const b = this.store.getMeta(derivedMailKey(id));
    return b && b.length > 0 ? b : undefined;
  }

  setDerivedMail(id: string, bytes: Uint8Array): void {
    if (bytes.length > MAX_DERIVED_MAIL_BYTES) throw new SealpostError('PAYLOAD_TOO_LARGE', `derived data of mail ${id}: ${bytes.length} bytes > ${MAX_DERIVED_MAIL_BYTES}`);
    if (!this.store.findMail(id as MessageId)) throw new SealpostError('MAIL_NOT_FOUND', `no mail ${id} on this device`);
    this.store.setMeta(derivedMailKey(id), bytes);
  }

  /**
   * Drafts a mail program saved (the IMAP bridge's Drafts folder): kept on this device only, in the encrypted profile,
   * never sent to the server; the bytes are the app's own encoding. At most MAX_DRAFTS of MAX_DRAFT_BYTES each.
   */
  saveDraft(bytes: Uint8Array): string {
    if (bytes.length > MAX_DRAFT_BYTES) throw new SealpostError('PAYLOAD_TOO_LARGE', `draft: ${bytes.length} bytes > ${MAX_DRAFT_BYTES}`);
    const ids = this.draftIds();
    if (ids.length >= MAX_DRAFTS) throw new SealpostError('INVALID_INPUT', `at most ${MAX_DRAFTS} drafts on a device; delete some first`);
    const id = `dr_${toBase64Url(randomBytes(16))}`;
    // The draft first, then the list naming it: a crash between leaves bytes nothing names, never a name without bytes.
    this.store.setMeta(`draft:${id}`, bytes);
    this.store.setMeta('drafts', JSON.stringify([...ids, id]));
    return id;
  }

  draft(id: string): Uint8Array | undefined {
    if (!DRAFT_ID.test(id)) return undefined;
    const b = this.store.getMeta(`draft:${id}`);
    return b && b.length > 0 ? b : undefined;
  }

  /** Draft ids, oldest first. */
  draftIds(): string[] {
    return JSON.parse(this.store.getMetaText('drafts') ?? '[]') as string[];
  }

  deleteDraft(id: string): void {
    if (!DRAFT_ID.test(id)) return;
    this.store.setMeta('drafts', JSON.stringify(this.draftIds().filter((d) => d !== id)));
    this.store.setMeta(`draft:${id}`, new Uint8Array(0));
  }

  /** A setting of this device's own (what the user last read, say), kept in the encrypted profile. */
  preference(key: string): string | undefined {
    return this.store.getMetaText(`pref:${checkPreferenceKey(key)}`);
  }

  setPreference(key: string, value: string): void {
    if (value.length > MAX_PREFERENCE_CHARS) throw new SealpostError('PAYLOAD_TOO_LARGE', `preference ${key}: longer than ${MAX_PREFERENCE_CHARS} characters`);
    this.store.setMeta(`pref:${checkPreferenceKey(key)}`, value);
  }

  /**
   * Messages and mail in this device's store whose text (or mail subject, or a sender) contains `query`, ignoring
   * case; newest first. The search runs over the local, encrypted store: nothing is asked of the server.
   */
  search(query: string, limit = 50): ({ kind: 'chat'; message: ChatMessage } | { kind: 'mail'; mail: MailSummary })[] {
    const q = query.trim().toLocaleLowerCase();
    if (q.length === 0) return [];
    if (q.length > 200) throw new SealpostError('INVALID_INPUT', 'search: at most 200 characters');
    const hits: ({ kind: 'chat'; message: ChatMessage; at: number } | { kind: 'mail'; mail: MailSummary; at: number })[] = [];
    for (const m of this.store.listMessages(undefined, Number.MAX_SAFE_INTEGER)) {
      const c = m.content as { text?: unknown; subject?: unknown };
      const haystack = [c.text, c.subject, m.senderUser].filter((x): x is string => typeof x === 'string').join('\n').toLocaleLowerCase();
      if (!haystack.includes(q)) continue;
      if (m.kind === 'mail') {
        hits.push({ kind: 'mail', mail: mailSummary(m.content as unknown as Mail, m.conversation, !m.read), at: m.sentAt });
      } else hits.push({ kind: 'chat', message: toChatMessage(m), at: m.sentAt });
    }
    return hits
      .sort((a, b) => b.at - a.at)
      .slice(0, limit)
      .map((h) => (h.kind === 'mail' ? { kind: 'mail', mail: h.mail } : { kind: 'chat', message: h.message }));
  }

  // ---- key transparency ---------------------------------------------------------------------------------------

  /** Check this account's own label in the log (see self-monitor.ts). */
  monitorSelf(): Promise<SelfCheck> {
    return this.selfMonitor.monitorSelf();
  }

  /** The safety number with `user`, their key-transparency status, and a key change in its contest period. */
  verifyUser(user: string, opts: { confirm?: string; peer?: string } = {}): Promise<VerifyResult> {
    return this.selfMonitor.verifyUser(user, opts);
  }

  // ---- devices ------------------------------------------------------------------------------------------------

  /** This account's devices: the signed list, with what the server knows of each. */
  devices(): Promise<OwnDevice[]> {
    return this.devicesPart.devices();
  }

  /** What a new device asked with this code: who, and its fingerprint to compare with the one it shows. */
  linkRequest(code: string): Promise<LinkRequestInfo> {
    return this.devicesPart.linkRequest(code);
  }

  /** Right after linking: sync until this device has joined the conversations the approving device adds it to. */
  awaitLinkedConversations(timeoutMs = 30_000): Promise<{ joined: number; expected: number; received: Received[] }> {
    return this.devicesPart.awaitLinkedConversations(timeoutMs);
  }

  /** Approve a new device (see devices.ts). */
  approveLink(code: string, opts: { fingerprint?: string; history?: number } = {}): Promise<{ device: DeviceId; conversations: number }> {
    return this.devicesPart.approveLink(code, opts);
  }

  /** Revoke another of this account's devices. */
  revokeDevice(id: string): Promise<void> {
    return this.devicesPart.revokeDevice(id);
  }

  // ---- seams for tests that drive the internals (test/e2e/delivery.test.ts, session tokens) --------------------

  private get store(): ProfileStorage {
    return this.core.store;
  }
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.core.serial(fn);
  }
  private socket(): Promise<ServerSocket> {
    return this.session.socket();
  }
  private sessionToken(): Promise<string> {
    return this.session.sessionToken();
  }
  private processItems(sock: ServerSocket, items: Parameters<Receiver['processItems']>[1]): Promise<void> {
    return this.receiver.processItems(sock, items);
  }
  private async handlePush(sock: ServerSocket, item: Parameters<Receiver['handlePush']>[1]): Promise<void> {
    if (await this.receiver.handlePush(sock, item)) await this.membership.applyRemovals();
  }
}

const MAX_PREFERENCE_CHARS = 64 * 1024;

function checkPreferenceKey(key: string): string {
  if (!/^[a-z0-9][a-z0-9._:@-]{0,199}$/i.test(key)) throw new SealpostError('INVALID_INPUT', `preference key ${JSON.stringify(key.slice(0, 40))}: letters, digits and . _ : @ - only, at most 200`);
  return key;
}

/** The class side of SealpostClient as its static methods use it: the platform, and `new` for the entry point's subclass. */
type ClientClass = typeof SealpostClient;
