// SealpostClient: one enrolled device. Holds every key; the server only ever sees MLS ciphertext.
// Sending: encrypt → persist state + outbox in one transaction → deliver. Receiving: process → persist state +
// message + sync position in one transaction → ack. Membership changes: commit → persist as pending → send →
// apply on acceptance, or re-sync and retry when another member's commit won the epoch.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
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
  signedDeviceListToJson,
  toBase64Url,
  type ConversationId,
  type ConversationKind,
  type DeviceId,
  type GroupState,
  type MessageId,
  type QueueItem,
  type SignatureKeyPair,
  type UserId,
} from '@sealpost/protocol';
import { HttpApi } from './http-api.js';
import { ProfileStore, type ConversationRow, type MessageRow } from './profile-store.node.js';
import { ServerSocket, type WebSocketFactory } from './socket.js';
import { DeviceTrust } from './trust.js';

export interface ClientOptions {
  /** Where warnings go (a message that could not be processed, a retry). Default: nowhere. */
  warn?: (message: string) => void;
  webSocket?: WebSocketFactory;
  /** Test double hooks, named as such: let a test simulate a crash at a precise point. Never set in product code. */
  testHooks?: { beforeAck?: () => void; beforeCommitSend?: () => Promise<void> };
}

export interface ChatMessage {
  type: 'message';
  conversation: ConversationId;
  id: MessageId;
  from: UserId;
  sentAt: string;
  text: string;
}

export interface ConversationSummary {
  id: ConversationId;
  kind: ConversationKind;
  members: UserId[];
  status: 'active' | 'removed';
}

const KEY_PACKAGE_BATCH = 50;
const KEY_PACKAGE_LOW_WATER = 10;
const MAX_COMMIT_ATTEMPTS = 6;
const MAX_SEND_ATTEMPTS = 6;
/** Errors that mean "try again later", never "this message is bad". */
const transientCodes = new Set(['SERVER_UNREACHABLE', 'UNAUTHENTICATED', 'PROTOCOL_ERROR', 'INTERNAL', 'RATE_LIMITED']);

const nodeWebSocket: WebSocketFactory = (url) => new WebSocket(url, { maxPayload: 64 * limits.maxFrameBytes }) as never;

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
    const user = parseUserId(params.user);
    const server = normaliseServerUrl(params.server);
    const store = ProfileStore.open(params.profile, { create: true });
    try {
      const client = await SealpostClient.build(store, server, user, newDeviceId(), options);
      const account = await client.engine.generateSignatureKeyPair();
      const deviceKeys = await client.engine.generateSignatureKeyPair();
      const deviceList = await signDeviceList(client.engine.cs.signature, account.privateKey, {
        user,
        version: 1,
        accountKey: account.publicKey,
        devices: [{ id: client.device, signatureKey: deviceKeys.publicKey, addedAt: Date.now() }],
      });
      store.setMeta('server', server);
      store.setMeta('user', user);
      store.setMeta('device', client.device);
      store.setMeta('device_sig_public', deviceKeys.publicKey);
      store.setMeta('device_sig_private', deviceKeys.privateKey);
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
      // Never leave a half-made profile behind: the next attempt starts clean.
      store.close();
      for (const f of ['profile.db', 'profile.db-wal', 'profile.db-shm']) rmSync(join(store.dir, f), { force: true });
      throw err;
    }
  }

  static async open(profile: string, options: ClientOptions = {}): Promise<SealpostClient> {
    const store = ProfileStore.open(profile, { create: false });
    if (store.getMetaText('enrolled') !== '1') {
      store.close();
      throw new SealpostError('NOT_ENROLLED', `the profile in ${store.dir} never finished enrolling; remove it and enroll again`);
    }
    const server = store.getMetaText('server')!;
    return SealpostClient.build(store, server, parseUserId(store.getMetaText('user')), store.getMetaText('device') as DeviceId, options);
  }

  private static async build(store: ProfileStore, server: string, user: UserId, device: DeviceId, options: ClientOptions): Promise<SealpostClient> {
    let client: SealpostClient | undefined;
    const api = new HttpApi(server, () => client!.sessionToken());
    let trust: DeviceTrust | undefined;
    const engine = await GroupEngine.create((identity, key) => trust!.isTrusted(identity, key));
    trust = new DeviceTrust(engine.cs, api, store);
    client = new SealpostClient(store, api, engine, options, user, device, server);
    client.trust = trust;
    return client;
  }
  private trust!: DeviceTrust;

  private get deviceKeys(): SignatureKeyPair {
    return { publicKey: this.store.getMeta('device_sig_public')!, privateKey: this.store.getMeta('device_sig_private')! };
  }

  async close(): Promise<void> {
    await this.chain.catch(() => {});
    const sock = this.socketPromise;
    this.socketPromise = undefined;
    if (sock) (await sock.catch(() => undefined))?.close();
    this.store.close();
  }

  /** Operations of one client run one at a time (they share MLS state and the local store). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
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
    const session = await anon.request<{ token: string; expiresAt: string }>(
      'POST',
      '/v1/auth/session',
      { device: this.device, challenge, signature: toBase64Url(signature) },
      'none',
    );
    this.store.setMeta('session_token', session.token);
    this.store.setMeta('session_expires', String(Date.parse(session.expiresAt)));
    return session.token;
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

  messages(conversation?: ConversationId): ChatMessage[] {
    return this.store.listMessages(conversation).map(toChatMessage);
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  /** Send text to a conversation, or to exactly these users (reusing their chat, or creating one). */
  send(target: { conversation: ConversationId } | { to: string[] }, text: string): Promise<{ conversation: ConversationId; id: MessageId }> {
    if (text.length === 0) return Promise.reject(new SealpostError('INVALID_INPUT', 'text: empty message'));
    if (text.length > limits.maxTextChars) return Promise.reject(new SealpostError('PAYLOAD_TOO_LARGE', `text: longer than ${limits.maxTextChars} characters`));
    return this.serial(async () => {
      await this.flushPendingCommits();
      const conversation = 'conversation' in target ? this.requireConversation(target.conversation).id : await this.chatWith(target.to);
      const id = newMessageId();
      const sentAt = Date.now();
      const plaintext = encodeContent({ v: 1, type: 'text', id, sentAt, text });
      await this.store.exclusive(async () => {
        const conv = this.requireConversation(conversation);
        const { state, message } = await this.engine.encrypt(this.engine.decodeState(conv.state), plaintext);
        this.saveState(conv, state);
        this.store.addOutbox({ conversation, id, epoch: conv.epoch, payload: message, plaintext });
        this.store.addMessage({ conversation, id, senderUser: this.user, senderDevice: this.device, sentAt, receivedAt: sentAt, direction: 'out', content: { type: 'text', text } });
      });
      await this.flushOutbox();
      return { conversation, id };
    });
  }

  private requireConversation(id: ConversationId): ConversationRow {
    const conv = this.store.getConversation(id);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', `no conversation ${id} on this device`);
    if (conv.status !== 'active') throw new SealpostError('NOT_A_MEMBER', `this device was removed from conversation ${id}`);
    return conv;
  }

  private saveState(conv: ConversationRow, state: GroupState, extra: Partial<ConversationRow> = {}): void {
    this.store.putConversation({
      ...conv,
      ...extra,
      state: this.engine.encodeState(state),
      epoch: this.engine.epoch(state),
      members: uniqueUsers(this.engine.members(state).map((m) => m.user)),
      updatedAt: Date.now(),
    });
  }

  /** Deliver everything in the outbox, in order. A message overtaken by a commit is re-encrypted for the new epoch. */
  private async flushOutbox(): Promise<void> {
    for (const row of this.store.listOutbox()) {
      let current = row;
      for (let attempt = 1; ; attempt++) {
        try {
          const sock = await this.socket();
          await sock.request({ t: 'send', c: current.conversation, e: current.epoch, id: current.id, p: current.payload });
          this.store.deleteOutbox(row.seq);
          break;
        } catch (err) {
          if (!(err instanceof SealpostError)) throw err;
          if (err.code === 'EPOCH_CONFLICT' && attempt < MAX_SEND_ATTEMPTS) {
            await this.syncInternal();
            current = await this.store.exclusive(async () => {
              const conv = this.requireConversation(row.conversation);
              const { state, message } = await this.engine.encrypt(this.engine.decodeState(conv.state), row.plaintext);
              this.saveState(conv, state);
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

  private async chatWith(to: string[]): Promise<ConversationId> {
    const users = uniqueUsers(to.map(parseUserId)).filter((u) => u !== this.user);
    if (users.length === 0) throw new SealpostError('INVALID_INPUT', 'to: name at least one other user');
    if (users.length > limits.maxConversationUsers) throw new SealpostError('INVALID_INPUT', `to: at most ${limits.maxConversationUsers} users`);
    const wanted = [...users, this.user].sort().join(',');
    const existing = this.store.listConversations().find((c) => c.kind === 'chat' && c.status === 'active' && [...c.members].sort().join(',') === wanted);
    if (existing) return existing.id;
    return this.createConversation('chat', users);
  }

  /** Create a conversation and add these users' devices (and this user's other devices). */
  private async createConversation(kind: ConversationKind, users: UserId[]): Promise<ConversationId> {
    // Check every user before anything is created, so a typo creates nothing.
    for (const u of users) await this.trust.deviceList(u);
    const id = newConversationId();
    await this.api.request('POST', '/v1/conversations', { id });
    await this.store.exclusive(async () => {
      const state = await this.engine.createGroup(id, { user: this.user, device: this.device }, this.deviceKeys);
      const now = Date.now();
      this.store.putConversation({ id, kind, status: 'active', epoch: 0, members: [this.user], state: this.engine.encodeState(state), createdAt: now, updatedAt: now });
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
  private async commitChange(conversation: ConversationId, change: { addUsers?: UserId[]; removeUsers?: UserId[] }): Promise<void> {
    let keyPackages: { device: DeviceId; keyPackage: Uint8Array }[] = [];
    if (change.addUsers && change.addUsers.length > 0) {
      const conv = this.requireConversation(conversation);
      const present = this.engine.members(this.engine.decodeState(conv.state)).map((m) => m.device);
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
      const pending = await this.store.exclusive(async () => {
        const conv = this.requireConversation(conversation);
        const state = this.engine.decodeState(conv.state);
        const members = this.engine.members(state);
        const present = new Set(members.map((m) => m.device));
        const adds = keyPackages.filter((k) => !present.has(k.device));
        const removes = members.filter((m) => change.removeUsers?.includes(m.user)).map((m) => m.device);
        if (adds.length === 0 && removes.length === 0) return undefined;
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
    await this.store.exclusive(async () => {
      const conv = this.store.getConversation(p.conversation);
      if (conv) this.saveState(conv, this.engine.decodeState(p.newState));
      this.store.deletePendingCommit(p.conversation);
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
  sync(): Promise<ChatMessage[]> {
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.syncInternal();
      await this.flushOutbox();
      await this.replenishKeyPackages();
      return this.store.takeUnseen().map(toChatMessage);
    });
  }

  /** Fetch and process the whole queue, in order. New messages are stored as unseen. */
  private async syncInternal(): Promise<void> {
    const sock = await this.socket();
    let after = 0;
    for (let round = 0; round < 10_000; round++) {
      const batch = await sock.request({ t: 'fetch', after, limit: limits.maxFetchBatch });
      await this.processItems(sock, batch.items);
      if (!batch.more || batch.items.length === 0) break;
      after = batch.items[batch.items.length - 1]!.seq;
    }
  }

  private async processItems(sock: ServerSocket, items: QueueItem[]): Promise<void> {
    const acks: number[] = [];
    let welcomed = false;
    try {
      for (const item of items) {
        await this.store.exclusive(async () => {
          const lastSeq = Number(this.store.getMetaText('last_seq') ?? 0);
          if (item.seq <= lastSeq) return; // processed before a crash, not yet acked
          await this.processItem(item);
          this.store.setMeta('last_seq', String(item.seq));
        });
        if (item.k === 'welcome') welcomed = true;
        acks.push(item.seq);
      }
    } finally {
      if (acks.length > 0) {
        this.options.testHooks?.beforeAck?.();
        sock.ack(acks);
      }
    }
    if (welcomed) await this.replenishKeyPackages().catch((err) => this.warn(`could not upload KeyPackages: ${(err as Error).message}`));
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
      }
    } catch (err) {
      if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
      this.warn(`skipped a ${item.k} message in conversation ${item.c} (seq ${item.seq}): ${(err as Error).message}`);
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
      existing ?? { id: item.c, kind: info.kind, status: 'active', epoch: 0, members: [], state: new Uint8Array(), createdAt: now, updatedAt: now },
      state,
      { kind: info.kind, status: 'active' },
    );
  }

  private async processCommit(item: QueueItem): Promise<void> {
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'commit for a conversation this device is not in');
    if (item.e < conv.epoch) return; // already applied (our own commit, or seen before)
    if (item.e > conv.epoch) throw new SealpostError('MLS_ERROR', `commit for epoch ${item.e} but this device is at ${conv.epoch}`);
    const res = await this.engine.process(this.engine.decodeState(conv.state), item.p);
    if (res.kind !== 'commit') throw new SealpostError('MLS_ERROR', 'expected a commit');
    this.saveState(conv, res.state, res.selfRemoved ? { status: 'removed' } : {});
  }

  private async processApplication(item: QueueItem): Promise<void> {
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'message for a conversation this device is not in');
    const res = await this.engine.process(this.engine.decodeState(conv.state), item.p);
    if (res.kind !== 'application') throw new SealpostError('MLS_ERROR', 'expected an application message');
    this.saveState(conv, res.state);
    const content = decodeContent(res.plaintext);
    if (content.type !== 'text') return;
    const row: MessageRow = {
      conversation: item.c,
      id: content.id as MessageId,
      senderUser: res.sender.user,
      senderDevice: res.sender.device,
      sentAt: content.sentAt,
      receivedAt: Date.now(),
      direction: res.sender.user === this.user ? 'out' : 'in',
      content: { type: 'text', text: content.text },
    };
    // Idempotent receive: a message id already stored (a retry or a replay) is never stored or shown twice.
    this.store.addMessage(row, false);
  }

  /**
   * Stay connected and hand each new message to `onMessage` until `signal` aborts. Reconnects with backoff.
   */
  watch(onMessage: (m: ChatMessage) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let backoff = 500;
      let stopped = false;
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
                      await this.processItems(sock, [item]);
                      for (const m of this.store.takeUnseen()) onMessage(toChatMessage(m));
                    } catch (err) {
                      // Stop taking pushes; a fresh connection fetches from the queue in order.
                      stalled = true;
                      this.warn(`processing stopped: ${(err as Error).message}; reconnecting`);
                      sock.close();
                    }
                  });
                };
                await this.serial(async () => {
                  await this.syncInternal();
                  await this.flushOutbox();
                  for (const m of this.store.takeUnseen()) onMessage(toChatMessage(m));
                });
                backoff = 500;
              })().catch((err) => {
                this.warn(`connection problem: ${(err as Error).message}`);
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
      if (signal.aborted) stop();
      else void loop();
    });
  }
}

function uniqueUsers(users: UserId[]): UserId[] {
  return [...new Set(users)].sort();
}

function toChatMessage(m: MessageRow): ChatMessage {
  return {
    type: 'message',
    conversation: m.conversation,
    id: m.id,
    from: m.senderUser,
    sentAt: new Date(m.sentAt).toISOString(),
    text: typeof m.content.text === 'string' ? m.content.text : '',
  };
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

