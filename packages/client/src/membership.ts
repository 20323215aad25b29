// Membership: who is in each conversation, changed by commits (RFC 9420 §12.4), one per epoch.
import {
  SealpostError,
  archiveAccountOf,
  isArchiveAccount,
  peopleOf,
  encodeConversationInfo,
  fromBase64Url,
  limits,
  newConversationId,
  newMessageId,
  parseUserId,
  type ConversationId,
  type ConversationKind,
  type DeviceId,
  type UserId,
} from '@sealpost/protocol';
import type { ConversationRow, PendingCommitRow } from './profile-storage.js';
import { ClientCore, ClientPart, transientCodes, uniqueUsers } from './core/client-core.js';
import type { Session } from './core/session.js';
import type { OwnDevices } from './own-devices.js';
import { activeHolds, doneHoldCheck, markHoldCheck, pendingHoldChecks, recordHolds } from './legal-hold.js';

const MAX_COMMIT_ATTEMPTS = 6;
/** How long a chat reservation of another process on this profile is waited for before it is taken over. */
const CHAT_RESERVATION_MS = 60_000;

/**
 * Membership: create conversations, add and remove users and devices, renew this device's keys — each one commit,
 * persisted as pending before it is sent, applied when the server accepts it. When another member's commit wins the
 * epoch, a narrow re-sync (the receive path, handed in) brings it in and the commit is made again on top.
 */
export class Membership extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly session: Session,
    private readonly ownDevices: OwnDevices,
    /** Fetch and process the queue (receiving.ts): how a lost race for an epoch is caught up. */
    private readonly resync: () => Promise<void>,
  ) {
    super(core);
  }

  chatUsers(to: string[]): UserId[] {
    const users = uniqueUsers(to.map((u) => this.qualify(u))).filter((u) => u !== this.user);
    if (users.length === 0) throw new SealpostError('INVALID_INPUT', 'to: name at least one other user');
    if (users.length > limits.maxConversationUsers) throw new SealpostError('INVALID_INPUT', `to: at most ${limits.maxConversationUsers} users`);
    return users;
  }

  findChat(users: UserId[]): ConversationId | undefined {
    const wanted = [...users, this.user].sort().join(',');
    // The archive is in a chat only because of a legal hold on one of its people: it is still their chat.
    return this.store.listConversations().find((c) => c.kind === 'chat' && c.status === 'active' && peopleOf(c.members).sort().join(',') === wanted)?.id;
  }

  /**
   * The chat with exactly these users, created when there is none. Several processes on one profile (four `sealpost
   * send --to dave` at once) must not each create one: under the profile's write lock the first reserves the chat,
   * the others wait until it is there. A reservation older than CHAT_RESERVATION_MS (its process died) is taken over.
   */
  async findOrCreateChat(users: UserId[]): Promise<ConversationId> {
    const key = `chat_reservation:${[...users, this.user].sort().join(',')}`;
    const deadline = Date.now() + 2 * CHAT_RESERVATION_MS;
    while (Date.now() < deadline) {
      const claim = await this.tx(async (): Promise<{ found: ConversationId } | { create: ConversationId } | { wait: true }> => {
        const found = this.findChat(users);
        if (found) return { found };
        const held = JSON.parse(this.store.getMetaText(key) || 'null') as { at: number } | null;
        if (held && Date.now() - held.at < CHAT_RESERVATION_MS) return { wait: true };
        const id = newConversationId();
        this.store.setMeta(key, JSON.stringify({ id, at: Date.now() }));
        return { create: id };
      });
      if ('found' in claim) return claim.found;
      if ('create' in claim) {
        try {
          return await this.createConversation('chat', users, claim.create);
        } finally {
          this.store.setMeta(key, '');
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new SealpostError('PROFILE_LOCKED', 'another process using this profile is still creating this chat; try again in a moment');
  }

  /** Create a conversation and add these users' devices (and this user's other devices). */
  async createConversation(kind: ConversationKind, users: UserId[], id: ConversationId = newConversationId()): Promise<ConversationId> {
    // Check every user before anything is created, so a typo creates nothing — and a user with no device left (all
    // revoked or wiped, not enrolled again) is said, not sent to nobody.
    for (const u of users) {
      // Fetched afresh: a legal hold placed since this process last looked brings the archive in from the start.
      const list = await this.trust.deviceList(u, true);
      if (u !== this.user && list.devices.length === 0) throw this.noDeviceOf(u);
    }
    await this.trust.deviceList(this.user, true);
    // The organisation's suite for new conversations (policy conversation-suite); classic from a server that names none.
    const suite = this.core.policySuite();
    await this.api.request('POST', '/v1/conversations', { id, suite });
    await this.tx(async () => {
      const state = await this.engine.createGroup(id, { user: this.user, device: this.device }, this.deviceKeys, suite);
      const now = Date.now();
      const parts = this.engine.splitState(state);
      this.store.putConversation({ id, kind, status: 'active', epoch: 0, members: [this.user], state: parts.base, stateFormat: 'parts', createdAt: now, updatedAt: now });
      this.store.putSecretNodes(id, parts.secrets);
    });
    await this.commitChange(id, { addUsers: [...users, this.user] });
    // Every user asked for must have a device in the group (a KeyPackage may have been refused as untrusted).
    const members = new Set(this.engine.members(this.loadState(this.requireConversation(id))).map((m) => m.user));
    const missing = users.find((u) => u !== this.user && !members.has(u));
    if (missing) throw this.noDeviceOf(missing);
    return id;
  }

  /** What a send to a user with no device left says. */
  noDeviceOf(user: UserId): SealpostError {
    return new SealpostError('NO_KEY_PACKAGE', `${user} has no device that can receive this (their devices were revoked or wiped and they have not enrolled again); nothing was sent`);
  }

  addMember(conversation: ConversationId, user: string): Promise<void> {
    const u = this.qualify(user);
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.resync();
      const conv = this.requireConversation(conversation);
      if (isArchiveAccount(u)) throw new SealpostError('INVALID_INPUT', `${u} is the organisation's archive: it joins a conversation only through a published legal hold on a member`);
      if (conv.members.includes(u)) throw new SealpostError('INVALID_INPUT', `${u} is already a member`);
      await this.trust.deviceList(u, true);
      await this.commitChange(conversation, { addUsers: [u] });
    });
  }

  removeMember(conversation: ConversationId, user: string): Promise<void> {
    const u = this.qualify(user);
    return this.serial(async () => {
      await this.flushPendingCommits();
      await this.resync();
      const conv = this.requireConversation(conversation);
      if (!conv.members.includes(u)) throw new SealpostError('INVALID_INPUT', `${u} is not a member`);
      if (u === this.user) throw new SealpostError('INVALID_INPUT', 'removing yourself is not supported yet; ask another member');
      if (isArchiveAccount(u)) {
        const holds = await activeHolds(this.trust, conv.members, Date.now(), true);
        if (holds.length > 0) throw new SealpostError('INVALID_INPUT', `the archive is here under the legal hold on ${holds.map((h) => h.user).join(', ')}; it leaves when that hold is released`);
      }
      await this.commitChange(conversation, { removeUsers: [u] });
    });
  }

  /**
   * Make and deliver one commit. RFC 9420 §14: the server accepts exactly one commit per epoch; when another
   * member's commit wins, process it and make ours again on top of it.
   */
  /** `update`: commit even without a membership change — fresh keys for this device's own leaf (its path). */
  async commitChange(conversation: ConversationId, change: { addUsers?: UserId[]; removeUsers?: UserId[]; removeDevices?: DeviceId[]; update?: boolean }): Promise<void> {
    let keyPackages: { device: DeviceId; keyPackage: Uint8Array }[] = [];
    if (change.addUsers && change.addUsers.length > 0) {
      const conv = this.requireConversation(conversation);
      // Anyone under a legal hold among the members to be: the organisation's archive comes in with them, in the same commit.
      const archive = archiveAccountOf(this.user);
      const everyone = [...new Set([...conv.members, ...change.addUsers])];
      const held = !everyone.includes(archive) && this.user !== archive && (await activeHolds(this.trust, everyone, Date.now(), false)).length > 0;
      const addUsers = held ? [...change.addUsers, archive] : change.addUsers;
      const present = this.engine.members(this.loadState(conv)).map((m) => m.device);
      // KeyPackages of the conversation's suite only: a device without one is refused (SUITE_UNSUPPORTED), never downgraded to.
      const suite = this.engine.suiteOf(this.loadState(conv));
      const res = await this.api.request<{ keyPackages: { device: DeviceId; keyPackage: string }[]; missing?: { user: UserId; device: DeviceId }[] }>('POST', '/v1/keypackages/claim', {
        users: addUsers,
        exclude: present,
        suite,
      });
      for (const m of res.missing ?? []) {
        const list = await this.trust.deviceList(m.user).catch(() => undefined);
        if (list?.devices.some((d) => d.id === m.device)) {
          throw new SealpostError('SUITE_UNSUPPORTED', `device ${m.device} of ${m.user} has published no ${suite} KeyPackage: it cannot join a ${suite} conversation (an older Sealpost); nothing was changed`);
        }
        this.warn(`ignored device ${m.device} of ${m.user}: the server names it, but it is not in ${m.user}'s account-signed device list`);
      }
      // The server only relays KeyPackages. Each must be for a device in its user's account-signed device list;
      // anything else (a "ghost" device the server made up) is refused here, before it can join.
      for (const k of res.keyPackages) {
        const bytes = fromBase64Url(k.keyPackage);
        const read = bytes ? await this.engine.readKeyPackage(bytes).catch(() => undefined) : undefined;
        const trusted =
          read !== undefined &&
          read.identity.device === k.device &&
          addUsers.includes(read.identity.user) &&
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
          await this.resync();
          continue;
        }
        throw err;
      }
    }
  }

  /** Send a pending commit; apply it on acceptance, drop it on conflict (the caller decides whether to retry). */
  async deliverPendingCommit(p: PendingCommitRow): Promise<void> {
    try {
      const sock = await this.session.socket();
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
  async flushPendingCommits(): Promise<void> {
    for (const p of this.store.listPendingCommits()) {
      try {
        await this.deliverPendingCommit(p);
      } catch (err) {
        if (err instanceof SealpostError && err.code === 'EPOCH_CONFLICT') continue;
        throw err;
      }
    }
  }

  /** Commit the removal of revoked devices that are still leaves in our groups (another member may be first). */
  async applyRemovals(): Promise<void> {
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
      await this.ownDevices.tidyOwnList().catch((err) => {
        if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
        this.warn(`could not update your device list: ${(err as Error).message}`);
        this.store.setMeta('own_list_dirty', '0');
      });
    }
    await this.applyGroupMemberships();
    await this.applyHolds();
  }

  /**
   * Groups of the organisation's identity provider followed by a conversation (policy scim-group-conversations;
   * receiving.ts keeps the newest signed statement of each): create the conversation when nobody has yet, else add
   * the group's members it lacks and remove the ones it no longer has — ordinary commits, the first of an epoch wins.
   * A member with no device yet is added at the group's next change.
   */
  async applyGroupMemberships(): Promise<void> {
    for (const id of JSON.parse(this.store.getMetaText('groups') || '[]') as ConversationId[]) {
      const g = JSON.parse(this.store.getMetaText(`group:${id}`) || 'null') as { members: UserId[]; applied: boolean } | null;
      if (!g || g.applied) continue;
      try {
        const reachable: UserId[] = [];
        for (const u of g.members) {
          if (u === this.user) continue;
          const list = await this.trust.deviceList(u).catch(() => undefined);
          if (list && list.devices.length > 0) reachable.push(u);
        }
        const conv = this.store.getConversation(id);
        if (!conv) {
          try {
            await this.createConversation('chat', reachable, id);
          } catch (err) {
            // Another member made it first: its Welcome brings this device in.
            if (!(err instanceof SealpostError && err.code === 'CONVERSATION_EXISTS')) throw err;
          }
        } else if (conv.status === 'active') {
          const addUsers = reachable.filter((u) => !conv.members.includes(u));
          const removeUsers = peopleOf(conv.members).filter((u) => u !== this.user && !g.members.includes(u));
          if (addUsers.length + removeUsers.length > 0) await this.commitChange(id, { addUsers, removeUsers });
        }
        this.store.setMeta(`group:${id}`, JSON.stringify({ ...g, applied: true }));
      } catch (err) {
        if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
        this.warn(`could not make conversation ${id} follow its group: ${(err as Error).message}`);
        this.store.setMeta(`group:${id}`, JSON.stringify({ ...g, applied: true }));
      }
    }
  }

  /**
   * Legal holds (legal-hold.ts): in each conversation a hold notice or a change of members asked about, the archive
   * is added when a member is held and it is not there, and removed when no member is held any more — ordinary
   * commits, the first of an epoch wins. The archive's own device never commits: it only receives.
   */
  async applyHolds(): Promise<void> {
    const archive = archiveAccountOf(this.user);
    for (const id of pendingHoldChecks(this.store)) {
      try {
        const conv = this.store.getConversation(id);
        if (conv?.status === 'active' && this.user !== archive) {
          const holds = await activeHolds(this.trust, conv.members, Date.now(), true);
          const present = conv.members.includes(archive);
          if (holds.length > 0 && !present) {
            if ((await this.trust.deviceList(archive, true)).devices.length === 0) this.warn(`the organisation's archive has no device to add to conversation ${id}`);
            else await this.commitChange(id, { addUsers: [archive] });
          } else if (holds.length === 0 && present) {
            await this.commitChange(id, { removeUsers: [archive] });
          }
          await this.tx(async () => recordHolds(this.store, id, holds));
        }
        doneHoldCheck(this.store, id);
      } catch (err) {
        if (err instanceof SealpostError && transientCodes.has(err.code)) throw err;
        this.warn(`could not bring conversation ${id} in line with the legal holds on its members: ${(err as Error).message}`);
        doneHoldCheck(this.store, id);
      }
    }
  }

  /** Every conversation the archive is in looked at again (a hold can end by its date, with no notice). */
  async recheckHolds(): Promise<void> {
    await this.tx(async () => {
      for (const c of this.store.listConversations()) if (c.status === 'active' && c.members.some(isArchiveAccount)) markHoldCheck(this.store, c.id);
    });
    await this.applyHolds();
  }

  /**
   * Commit fresh keys for this device's own leaf (an MLS update with a path, RFC 9420 §12.4) in every active
   * conversation that `due` picks; returns how many. A conversation that fails is reported and tried next time.
   */
  async updateKeys(due: (c: ConversationRow) => boolean): Promise<number> {
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
      await this.resync();
      return { conversations: await this.updateKeys(() => true) };
    });
  }
}
