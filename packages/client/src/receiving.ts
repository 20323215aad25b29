// Receiving: queue items in, processed in order, state and message saved together, acked after.
import {
  SealpostError,
  decodeContent,
  decodeConversationInfo,
  limits,
  verifyOrgCommand,
  type MessageId,
  type QueueItem,
  decodeSignedNotice,
  groupConversationId,
  verifyGroupMembership,
  type GroupMembership,
  isArchiveAccount,
  decodeLegalHold,
  verifyLegalHold,
  type UserId,
  type ConversationId,
  type GroupState,
  type LegalHold,
} from '@sealpost/protocol';
import { checkArchiveJoin, markHoldCheck, recordHolds } from './legal-hold.js';
import type { MessageRow, UnreadableRecord } from './profile-storage.js';
import { ServerSocket } from './socket.js';
import { ClientCore, ClientPart, localContent, transientCodes } from './core/client-core.js';
import type { OutsideMail } from './outside-mail.js';
import type { Session } from './core/session.js';

/** Processed seqs remembered from pushes before a full pass over the queue is made to forget the acked ones. */
const PROCESSED_SEQS_BEFORE_SYNC = 2000;

/**
 * Receiving: fetch the queue in order (or take a push), process each item in one store transaction with the state it
 * changes, ack, and record what cannot be read. Calls nothing above it: removals a notice asks for are left for
 * membership, and new messages are stored as unseen for whoever shows them.
 */
export class Receiver extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly session: Session,
    private readonly outside: OutsideMail,
  ) {
    super(core);
  }

  /** Fetch and process the whole queue, in order. New messages are stored as unseen. */
  async syncInternal(): Promise<void> {
    const sock = await this.session.socket();
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
  skipUnreadable(r: Omit<UnreadableRecord, 'at'>): void {
    this.store.recordUnreadable({ ...r, at: Date.now() });
    const what = r.kind ? `a ${r.kind} message` : 'a queue item';
    const from = r.fromUser ? ` from ${r.fromUser}` : '';
    const where = r.conversation ? ` in conversation ${r.conversation}` : '';
    this.warn(`skipped ${what}${from}${where} (seq ${r.seq ?? '?'}) that this device cannot read: ${r.reason}`);
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
  async processItems(sock: ServerSocket, items: QueueItem[]): Promise<void> {
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
    if (welcomed) await this.core.replenishKeyPackages().catch((err) => this.warn(`could not upload KeyPackages: ${(err as Error).message}`));
  }

  /**
   * A pushed queue item. Several nodes push independently, so an item can arrive before an earlier one of its
   * conversation that it depends on (a message of an epoch this device has not reached, a commit for a later
   * epoch): then the queue is fetched and processed in order instead, which brings the earlier item first (within
   * a conversation the server's seq order is commit order).
   */
  async handlePush(sock: ServerSocket, item: QueueItem): Promise<boolean> {
    const ahead = this.isAheadOfState(item);
    if (ahead) await this.syncInternal();
    else await this.processItems(sock, [item]);
    // Pushes only add to the processed seqs; a full pass over the queue now and then forgets them.
    if (this.store.processedCount() > PROCESSED_SEQS_BEFORE_SYNC) await this.syncInternal();
    // Removals and group changes the batch asked for are committed by the caller (membership sits above receiving).
    return ahead || item.k === 'remove' || item.k === 'group' || item.k === 'hold';
  }

  /** Whether an unprocessed message or commit is for an epoch (or a conversation) this device has not reached. */
  isAheadOfState(item: QueueItem): boolean {
    if ((item.k !== 'app' && item.k !== 'commit') || this.store.wasProcessed(item.seq)) return false;
    const conv = this.store.getConversation(item.c);
    return !conv || item.e > conv.epoch;
  }

  /** Process one queue item inside the store transaction. Bad items are reported and skipped; transient errors propagate. */
  async processItem(item: QueueItem): Promise<void> {
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
        case 'mail-in':
          return await this.outside.processIntake(item);
        case 'group':
          return await this.processGroupMembership(item);
        case 'hold':
          return await this.processHoldNotice(item);
      }
    } catch (err) {
      if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
      this.skipUnreadable({ seq: item.seq, conversation: item.c, kind: item.k, fromUser: item.fromUser, reason: (err as Error).message });
    }
  }

  async processWelcome(item: QueueItem): Promise<void> {
    const refs = this.engine.welcomeRefs(item.p);
    const ref = refs.find((r) => this.store.getKeyPackage(r));
    if (!ref) throw new SealpostError('MLS_ERROR', 'Welcome is not addressed to any KeyPackage of this device');
    const kp = this.store.getKeyPackage(ref)!;
    const { state, conversationInfo } = await this.engine.join(item.p, kp);
    // A conversation keeps its suite for life: a Welcome back into one of ours in another suite is a downgrade.
    const known = this.store.getMetaText(`suite:${item.c}`);
    if (known && known !== this.engine.suiteOf(state)) {
      throw new SealpostError('SUITE_UNSUPPORTED', `a Welcome into conversation ${item.c} in the ${this.engine.suiteOf(state)} suite, which this device knows as ${known}: refused`);
    }
    const holds = await this.checkArchive(item.c, undefined, state);
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
    if (holds) recordHolds(this.store, item.c, holds);
  }

  async processCommit(item: QueueItem): Promise<void> {
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'commit for a conversation this device is not in');
    if (item.e < conv.epoch) return; // already applied (our own commit, or seen before)
    if (item.e > conv.epoch) throw new SealpostError('MLS_ERROR', `commit for epoch ${item.e} but this device is at ${conv.epoch}`);
    const before = this.loadState(conv);
    const res = await this.engine.process(before, item.p);
    if (res.kind !== 'commit') throw new SealpostError('MLS_ERROR', 'expected a commit');
    const holds = res.selfRemoved ? undefined : await this.checkArchive(item.c, before, res.state);
    this.saveState(conv, before, res.state, res.selfRemoved ? { status: 'removed' } : {});
    if (holds) recordHolds(this.store, item.c, holds);
  }

  async processApplication(item: QueueItem): Promise<void> {
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'message for a conversation this device is not in');
    const before = this.loadState(conv);
    const res = await this.engine.process(before, item.p);
    if (res.kind !== 'application') throw new SealpostError('MLS_ERROR', 'expected an application message');
    this.saveState(conv, before, res.state);
    const content = decodeContent(res.plaintext);
    if (content.type === 'unknown') return;
    if (content.type === 'rename') {
      // The newest name wins, whichever order the renames arrive in (equal times: the larger id, the same on every device).
      this.core.nameConversation(item.c, { name: content.name, sentAt: content.sentAt, id: content.id, by: res.sender.user });
      return;
    }
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

  /**
   * An archive device may come in (by a commit, or already be there when this device is welcomed) only under a hold
   * in force on another member (legal-hold.ts); otherwise the change is refused and the alarm raised.
   */
  private async checkArchive(conversation: ConversationId, before: GroupState | undefined, after: GroupState): Promise<LegalHold[] | undefined> {
    const had = new Set(before ? this.engine.members(before).map((m) => m.device) : []);
    const members = this.engine.members(after);
    if (!members.some((m) => isArchiveAccount(m.user) && !had.has(m.device))) return undefined;
    const users = [...new Set(members.map((m) => m.user))];
    return checkArchiveJoin(this.trust, conversation, users, Date.now(), (p) => this.core.raiseAlarm([p]));
  }

  /**
   * An organisation-signed legal hold (or its release) on a member of this conversation: checked against the pinned
   * organisation key; membership then looks at the conversation again after the batch, checking the hold in the
   * key-transparency log, and adds or removes the archive by a commit.
   */
  async processHoldNotice(item: QueueItem): Promise<void> {
    const org = this.store.getMeta('org_key');
    const signed = decodeSignedNotice(item.p);
    const conv = this.store.getConversation(item.c);
    if (!conv) throw new SealpostError('CONVERSATION_NOT_FOUND', 'legal-hold notice for a conversation this device is not in');
    // The statement names its user: one signature check, for a member of this conversation only.
    let user: string | undefined;
    try {
      user = signed ? decodeLegalHold(signed.body).user : undefined;
    } catch {
      user = undefined;
    }
    const named = org && signed && user && (conv.members as string[]).includes(user) && (await verifyLegalHold(this.engine.cs.signature, org, signed, user as UserId)).kind === 'ok';
    if (!named) throw new SealpostError('MLS_ERROR', 'legal-hold notice: not signed by the organisation key pinned here, or for nobody in this conversation');
    markHoldCheck(this.store, item.c);
  }

  /**
   * The organisation's statement of who is in a group its identity provider keeps (policy scim-group-conversations):
   * checked against the pinned organisation key and the conversation it names; the newest is kept for the membership
   * step after the batch, which makes the conversation follow it (it needs the network).
   */
  async processGroupMembership(item: QueueItem): Promise<void> {
    const org = this.store.getMeta('org_key');
    const signed = decodeSignedNotice(item.p);
    const g = org && signed ? await verifyGroupMembership(this.engine.cs.signature, org, signed) : undefined;
    if (!g) throw new SealpostError('MLS_ERROR', 'group membership: not signed by the organisation key pinned here');
    if (groupConversationId(g.group) !== item.c) throw new SealpostError('MLS_ERROR', 'group membership: for another conversation than it came in');
    if (!g.members.includes(this.user)) return;
    const key = `group:${item.c}`;
    const before = JSON.parse(this.store.getMetaText(key) || 'null') as GroupMembership | null;
    if (before && before.version >= g.version) return;
    this.store.setMeta(key, JSON.stringify({ ...g, applied: false }));
    const all = JSON.parse(this.store.getMetaText('groups') || '[]') as string[];
    if (!all.includes(item.c)) this.store.setMeta('groups', JSON.stringify([...all, item.c]));
    this.core.nameConversation(item.c, { name: g.name, sentAt: g.issuedAt, id: `group-${g.version}`, by: this.user });
  }

  /**
   * An organisation-signed notice that a device was revoked. Checked against the organisation key pinned at
   * enrollment; the removal itself is committed after the batch (it needs the network).
   */
  async processRemovalNotice(item: QueueItem): Promise<void> {
    const org = this.store.getMeta('org_key');
    const signed = decodeSignedNotice(item.p);
    if (!org || !signed) throw new SealpostError('MLS_ERROR', 'removal notice: malformed or no organisation key pinned');
    const v = await verifyOrgCommand(this.engine.cs.signature, org, signed, { kind: 'remove-device', device: item.from });
    if (v.kind !== 'ok') throw new SealpostError('MLS_ERROR', `removal notice refused: ${v.reason}`);
    if (v.command.device === this.device) return;
    this.store.addPendingRemoval(item.c, v.command.device);
    // One of our own devices was revoked (perhaps by an admin, who cannot sign our list): sign it out of the list.
    if (v.command.user === this.user) this.store.setMeta('own_list_dirty', '1');
  }
}
