// Sending chat messages: encrypt, persist, deliver; hold what waits on a contested key change.
import {
  SealpostError,
  encodeContent,
  limits,
  newConversationId,
  newMessageId,
  type BlobId,
  type ChatText,
  type FileRef,
  type Mail,
  type Rename,
  type ConversationId,
  type MessageId,
  type UserId,
  isArchiveAccount,
  type LegalHold,
} from '@sealpost/protocol';
import type { FileSource, Progress } from './platform.js';
import { KeyChangePending } from './trust.js';
import type { DiscardedSummary, HeldInfo, HeldRequest, HeldSummary } from './types.js';
import { ClientCore, ClientPart, localContent, transientCodes } from './core/client-core.js';
import type { Session } from './core/session.js';
import type { Membership } from './membership.js';
import { ArchiveNotAcknowledged, acknowledgedHolds, activeHolds, archivedState } from './legal-hold.js';
import type { ConversationSummary } from './types.js';

const MAX_SEND_ATTEMPTS = 6;

/**
 * Sending chat: encrypt, persist state + outbox + history in one transaction, then deliver; a message overtaken by
 * a commit is re-encrypted for the new epoch. A message to someone whose new account key is still contested is held
 * instead (see trust.ts), and listed until it is sent or discarded (held.ts).
 */
export class Sender extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly session: Session,
    private readonly membership: Membership,
    private readonly resync: () => Promise<void>,
    /** Run before a new message: pending commits go out, and messages held earlier go first when they can. */
    private readonly beforeSend: () => Promise<void>,
  ) {
    super(core);
  }

  /** Send text (and files) to a conversation, or to exactly these users (reusing their chat, or creating one). */
  send(
    target: { conversation: ConversationId } | { to: string[] },
    text: string,
    opts: { files?: FileSource[]; onProgress?: Progress } = {},
  ): Promise<{ conversation: ConversationId; id: MessageId; held?: HeldInfo }> {
    const files = opts.files ?? [];
    if (text.length === 0 && files.length === 0) return Promise.reject(new SealpostError('INVALID_INPUT', 'text: empty message (give text or a file)'));
    if (text.length > limits.maxTextChars) return Promise.reject(new SealpostError('PAYLOAD_TOO_LARGE', `text: longer than ${limits.maxTextChars} characters`));
    if (files.length > limits.maxAttachments) return Promise.reject(new SealpostError('INVALID_INPUT', `at most ${limits.maxAttachments} files per message`));
    return this.serial(async () => {
      await this.beforeSend();
      for (const f of files) await this.files.checkReadable(f);
      if ('conversation' in target) {
        const conversation = this.requireConversation(target.conversation).id;
        await this.requireArchiveAcknowledged(conversation, []);
        return { conversation, id: await this.sendChat(conversation, newMessageId(), Date.now(), text, files, opts.onProgress) };
      }
      // Resolve the recipients before uploading anything, so a typo costs nothing.
      const users = this.membership.chatUsers(target.to);
      const pending = await this.keyChangesPending(users);
      if (pending.length > 0) {
        // A chat from before the change holds only the old key's devices: the message will start a new one.
        const id = newMessageId();
        const conversation = newConversationId();
        return { conversation, id, held: this.hold({ kind: 'chat', id, conversation, users, text, files, sentAt: Date.now() }, pending) };
      }
      // Nobody to deliver to is said, not sent into a chat that holds only devices since revoked.
      for (const u of users) if ((await this.trust.deviceList(u)).devices.length === 0) throw this.membership.noDeviceOf(u);
      await this.requireArchiveAcknowledged(this.membership.findChat(users), [...users, this.user]);
      const conversation = await this.membership.findOrCreateChat(users);
      return { conversation, id: await this.sendChat(conversation, newMessageId(), Date.now(), text, files, opts.onProgress) };
    });
  }

  async sendChat(conversation: ConversationId, id: MessageId, sentAt: number, text: string, files: FileSource[], onProgress?: Progress): Promise<MessageId> {
    const attachments = await this.uploadAll(files, onProgress);
    const content: ChatText = { v: 1, type: 'text', id, sentAt, text, ...(attachments.length > 0 ? { attachments } : {}) };
    await this.sendContent(conversation, content);
    return id;
  }

  /** The archived mark of a conversation the organisation's archive is in (legal-hold.ts), for the app to show. */
  archivedOf(conversation: ConversationId): ConversationSummary['archived'] {
    const conv = this.store.getConversation(conversation);
    if (!conv || !conv.members.some(isArchiveAccount)) return undefined;
    const state = archivedState(this.store, conversation) ?? { since: conv.updatedAt, holds: [] };
    const acks = acknowledgedHolds(this.store);
    return {
      holds: state.holds.map((h) => ({ ...h, since: new Date(h.since).toISOString() })),
      since: new Date(state.since).toISOString(),
      acknowledged: state.holds.length > 0 && state.holds.every((h) => acks.has(h.id)),
    };
  }

  /**
   * Before a message goes where the archive records — a conversation it is in, or to `users` of whom one is held (it
   * joins with them) — the sender must have confirmed each hold once: ArchiveNotAcknowledged otherwise.
   */
  async requireArchiveAcknowledged(conversation: ConversationId | undefined, users: UserId[]): Promise<void> {
    const conv = conversation ? this.store.getConversation(conversation) : undefined;
    const holds = new Map<string, LegalHold>();
    if (conv && conv.members.some(isArchiveAccount)) {
      const known = archivedState(this.store, conv.id)?.holds ?? [];
      const current = known.length > 0 ? [] : await activeHolds(this.trust, conv.members, Date.now(), false);
      for (const h of [...known, ...current]) holds.set(h.id, h as LegalHold);
    }
    for (const h of await activeHolds(this.trust, users, Date.now(), false)) holds.set(h.id, h);
    const acks = acknowledgedHolds(this.store);
    const open = [...holds.values()].filter((h) => !acks.has(h.id));
    if (open.length > 0) throw new ArchiveNotAcknowledged(open);
  }

  /** The recipients among `users` whose new account key is in its contest period (each verified as far as it goes). */
  async keyChangesPending(users: UserId[]): Promise<KeyChangePending[]> {
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
  hold(request: HeldRequest, pending: KeyChangePending[]): HeldInfo {
    // A held message is kept as JSON until it can go: a file picked in a browser cannot be kept that way.
    const files = request.kind === 'chat' ? request.files : request.mail.files;
    if (files.some((f) => typeof f !== 'string')) throw pending[0]!;
    this.store.addHeldSend({ id: request.id, users: pending.map((p) => p.user), request: JSON.stringify(request), createdAt: Date.now() });
    const until = Math.max(...pending.map((p) => p.until));
    return { users: pending.map((p) => p.user), until: new Date(until).toISOString(), reason: pending.map((p) => p.message).join('; ') };
  }

  /** Messages waiting for a recipient's key change to be settled, oldest first. */
  heldMessages(): HeldSummary[] {
    return this.store.listHeldSends().map((h) => {
      const r = JSON.parse(h.request) as HeldRequest;
      const to = recipientsOf(r);
      return { id: h.id, kind: r.kind, to, waitingFor: h.users, createdAt: new Date(h.createdAt).toISOString() };
    });
  }

  /** Held messages that were discarded because a recipient's key change was refused; each is reported once. */
  takeDiscardedMessages(): DiscardedSummary[] {
    return this.store.takeDiscardedSends().map((h) => {
      const r = JSON.parse(h.request) as HeldRequest;
      const to = recipientsOf(r);
      return { id: h.id, kind: r.kind, to, reason: h.discarded ?? '' };
    });
  }

  async uploadAll(paths: FileSource[], onProgress?: Progress): Promise<FileRef[]> {
    const refs: FileRef[] = [];
    for (const path of paths) refs.push((await this.files.upload(path, onProgress ? { onProgress } : {})).ref);
    return refs;
  }

  /** Encrypt, persist (state, outbox, history) in one transaction, then deliver. Runs inside `serial`. */
  async sendContent(
    conversation: ConversationId,
    content: ChatText | Mail | Rename,
    history: { record: false } | { record: true; as?: ChatText | Mail } = { record: true },
  ): Promise<void> {
    const plaintext = encodeContent(content);
    if (plaintext.length > limits.maxMlsMessageBytes - 4096) {
      throw new SealpostError('PAYLOAD_TOO_LARGE', `message is ${plaintext.length} bytes; at most ${limits.maxMlsMessageBytes - 4096} fit one message`);
    }
    const blobs = (content.type === 'rename' ? [] : (content.attachments ?? [])).map((f) => f.id as BlobId);
    await this.tx(async () => {
      const conv = this.requireConversation(conversation);
      const before = this.loadState(conv);
      const { state, message } = await this.engine.encrypt(before, plaintext);
      this.saveState(conv, before, state);
      this.store.addOutbox({ conversation, id: content.id, epoch: conv.epoch, payload: message, plaintext, blobs });
      if (history.record && content.type !== 'rename') {
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

  /** Name a conversation for all its members (a member may rename it; the newest name wins everywhere). */
  renameConversation(conversation: ConversationId, name: string): Promise<void> {
    const clean = name.trim();
    if (clean.length > limits.maxConversationNameChars) return Promise.reject(new SealpostError('INVALID_INPUT', `name: at most ${limits.maxConversationNameChars} characters`));
    if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(clean)) return Promise.reject(new SealpostError('INVALID_INPUT', 'name: no control characters or line breaks'));
    return this.serial(async () => {
      await this.beforeSend();
      const conv = this.requireConversation(conversation);
      if (conv.status !== 'active') throw new SealpostError('NOT_A_MEMBER', `you are no longer in ${conversation}`);
      const content: Rename = { v: 1, type: 'rename', id: newMessageId(), sentAt: Date.now(), name: clean };
      await this.sendContent(conv.id, content, { record: false });
      this.core.nameConversation(conv.id, { name: clean, sentAt: content.sentAt, id: content.id, by: this.user });
    });
  }

  /** Deliver everything in the outbox, in order. A message overtaken by a commit is re-encrypted for the new epoch. */
  async flushOutbox(): Promise<void> {
    for (const row of this.store.listOutbox()) {
      let current = row;
      for (let attempt = 1; ; attempt++) {
        try {
          const sock = await this.session.socket();
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
            await this.resync();
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
}

/** Everyone a held message is addressed to. */
function recipientsOf(r: HeldRequest): UserId[] {
  return r.kind === 'chat' ? r.users : [...r.mail.to, ...r.mail.cc, ...r.mail.bcc];
}
