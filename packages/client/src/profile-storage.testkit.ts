// The contract every ProfileStorage adapter must pass (SQLite in Node now; IndexedDB in the browser next): run it
// with a factory that opens a fresh, empty store. What the client parts rely on, operation by operation.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newConversationId, newDeviceId, newMessageId, parseUserId, type BlobId, type ConversationId } from '@sealpost/protocol';
import type { ConversationRow, MessageRow, ProfileStorage } from './profile-storage.js';

const bytes = (n: number, len = 8) => new Uint8Array(len).fill(n);

export function runProfileStorageContract(name: string, open: () => ProfileStorage | Promise<ProfileStorage>): void {
  describe(`ProfileStorage contract: ${name}`, () => {
    let store: ProfileStorage;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(() => {
      store.close();
    });

    const alice = parseUserId('alice@localhost');
    const bob = parseUserId('bob@localhost');

    function conversation(id: ConversationId = newConversationId(), extra: Partial<ConversationRow> = {}) {
      const now = Date.now();
      const version = store.putConversation({ id, kind: 'chat', status: 'active', epoch: 0, members: [alice, bob], state: bytes(1), stateFormat: 'parts', createdAt: now, updatedAt: now, ...extra });
      return { id, version };
    }

    function message(conv: ConversationId, extra: Partial<MessageRow> = {}): MessageRow {
      return {
        conversation: conv,
        id: newMessageId(),
        senderUser: bob,
        senderDevice: newDeviceId(),
        sentAt: 1000,
        receivedAt: 2000,
        direction: 'in',
        kind: 'text',
        content: { text: 'hello' },
        ...extra,
      };
    }

    it('keeps meta values as bytes or text', () => {
      store.setMeta('a', bytes(7, 3));
      store.setMeta('b', 'text');
      expect(store.getMeta('a')).toEqual(bytes(7, 3));
      expect(store.getMetaText('b')).toBe('text');
      expect(store.getMeta('missing')).toBeUndefined();
    });

    it('rolls back everything written inside a failed exclusive run', async () => {
      await expect(
        store.exclusive(async () => {
          store.setMeta('k', 'inside');
          conversation();
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(store.getMetaText('k')).toBeUndefined();
      expect(store.listConversations()).toEqual([]);
      await store.exclusive(async () => store.setMeta('k', 'kept'));
      expect(store.getMetaText('k')).toBe('kept');
    });

    it('remembers processed seqs until a complete pass forgets those no longer queued', () => {
      store.markProcessed(5);
      store.markProcessed(9);
      expect([store.wasProcessed(5), store.wasProcessed(6)]).toEqual([true, false]);
      store.forgetProcessedExcept(new Set([9]));
      expect([store.wasProcessed(5), store.wasProcessed(9), store.processedCount()]).toEqual([false, true, 1]);
    });

    it('keeps KeyPackages by ref, one-time ones deletable', () => {
      store.addKeyPackage('r1', bytes(1), bytes(2), false);
      store.addKeyPackage('r2', bytes(3), bytes(4), true);
      expect(store.getKeyPackage('r2')).toEqual({ publicBytes: bytes(3), privateBytes: bytes(4), lastResort: true });
      store.deleteKeyPackage('r1');
      expect(store.getKeyPackage('r1')).toBeUndefined();
    });

    it('saves a conversation with a new version tag each time, its state and its secret nodes', () => {
      const { id, version } = conversation();
      const row = store.getConversation(id)!;
      expect(row).toMatchObject({ id, kind: 'chat', status: 'active', epoch: 0, members: [alice, bob], stateFormat: 'parts', version });
      expect(store.conversationState(id)).toEqual(bytes(1));
      store.putSecretNodes(id, [bytes(1), bytes(2)]);
      const after = store.updateSecretNodes(id, [{ index: 1, bytes: bytes(9) }], Date.now());
      expect(after).not.toBe(version);
      expect(store.secretNodes(id)).toEqual([bytes(1), bytes(9)]);
      const v3 = store.putConversation({ ...row, epoch: 3, state: bytes(2) });
      expect(store.getConversation(id)).toMatchObject({ epoch: 3, version: v3 });
      expect(store.listConversations().map((c) => c.id)).toEqual([id]);
    });

    it('stores a message once (a replay is refused), hands unseen ones over once, and finds mail and attachments', () => {
      const { id } = conversation();
      const m = message(id, { content: { text: 'hi', attachments: [{ id: 'b_AAAAAAAAAAAAAAAAAAAAAA', name: 'f' }] } });
      expect(store.addMessage(m, false)).toBe(true);
      expect(store.addMessage(m, false)).toBe(false);
      expect(store.takeUnseen().map((x) => x.id)).toEqual([m.id]);
      expect(store.takeUnseen()).toEqual([]);
      expect(store.getMessage(id, m.id)?.content).toEqual(m.content);
      expect(store.findAttachment('b_AAAAAAAAAAAAAAAAAAAAAA')).toMatchObject({ name: 'f' });
      const mail = message(id, { kind: 'mail', read: false, content: { subject: 's' } });
      store.addMessage(mail);
      expect(store.findMail(mail.id)?.read).toBe(false);
      store.markRead(id, mail.id);
      expect(store.findMail(mail.id)?.read).toBe(true);
      expect(store.listMail().map((x) => x.id)).toEqual([mail.id]);
      expect(store.listMessages(id).map((x) => x.id)).toEqual([m.id, mail.id]);
      expect(store.deleteMessage(id, m.id)).toEqual(['b_AAAAAAAAAAAAAAAAAAAAAA']);
      expect(store.getMessage(id, m.id)).toBeUndefined();
    });

    it('deletes messages older than a retention limit and says which blobs nothing refers to any more', () => {
      const { id } = conversation();
      store.addMessage(message(id, { receivedAt: 10, sentAt: 10, content: { attachments: [{ id: 'b_BBBBBBBBBBBBBBBBBBBBBB' }] } }));
      store.addMessage(message(id, { receivedAt: 5000, sentAt: 5000 }));
      expect(store.deleteMessagesBefore(1000)).toEqual(['b_BBBBBBBBBBBBBBBBBBBBBB']);
      expect(store.listMessages(id)).toHaveLength(1);
    });

    it('keeps the outbox in order, updates and deletes entries', () => {
      const { id } = conversation();
      store.addOutbox({ conversation: id, id: newMessageId(), epoch: 1, payload: bytes(1), plaintext: bytes(2), blobs: [] });
      store.addOutbox({ conversation: id, id: newMessageId(), epoch: 1, payload: bytes(3), plaintext: bytes(4), blobs: ['b_CCCCCCCCCCCCCCCCCCCCCC' as BlobId] });
      const [a, b] = store.listOutbox();
      expect(a!.seq).toBeLessThan(b!.seq);
      store.updateOutbox(a!.seq, 2, bytes(5));
      expect(store.listOutbox()[0]).toMatchObject({ epoch: 2, payload: bytes(5) });
      store.deleteOutbox(a!.seq);
      expect(store.listOutbox().map((o) => o.seq)).toEqual([b!.seq]);
      expect(store.listOutbox()[0]!.blobs).toEqual(['b_CCCCCCCCCCCCCCCCCCCCCC']);
    });

    it('keeps one pending commit per conversation', () => {
      const { id } = conversation();
      const p = { conversation: id, id: newMessageId(), epoch: 0, commit: bytes(1), welcome: undefined, adds: [newDeviceId()], removes: [], newState: bytes(2), newMembers: [alice] };
      store.putPendingCommit(p);
      expect(store.listPendingCommits()).toEqual([p]);
      store.deletePendingCommit(id);
      expect(store.listPendingCommits()).toEqual([]);
    });

    it('pins account keys, records a change, and shows it until acknowledged', () => {
      store.putKnownUser(bob, bytes(1, 32), 1, 10);
      store.putKnownUser(bob, bytes(1, 32), 3, 11);
      expect(store.getKnownUser(bob)).toEqual({ accountKey: bytes(1, 32), version: 3 });
      store.replaceKnownUser(bob, bytes(2, 32), 1, 20);
      expect(store.getKnownUser(bob)?.accountKey).toEqual(bytes(2, 32));
      expect(store.keyChanges(bob)).toEqual([{ user: bob, oldKey: bytes(1, 32), newKey: bytes(2, 32), at: 20 }]);
      expect(store.unacknowledgedKeyChanges()).toEqual([{ user: bob, at: 20 }]);
      store.acknowledgeKeyChanges(bob, 30);
      expect(store.unacknowledgedKeyChanges()).toEqual([]);
      expect(store.keyChangesAcknowledgedAt(bob)).toBe(30);
    });

    it('runs a key contest: started once per key, verified or refused, ended', () => {
      const first = store.startKeyContest(bob, bytes(5, 32), 4, 100);
      expect(store.startKeyContest(bob, bytes(5, 32), 4, 200)).toEqual(first);
      expect(first).toMatchObject({ user: bob, firstSeen: 100, retiredAt: 4, verified: false, refused: null });
      store.refuseKeyContest(bob, 'objected');
      expect(store.getKeyContest(bob)?.refused).toBe('objected');
      store.verifyKeyContest(bob);
      expect(store.getKeyContest(bob)?.verified).toBe(true);
      expect(store.startKeyContest(bob, bytes(6, 32), 7, 300)).toMatchObject({ firstSeen: 300, verified: false, refused: null });
      expect(store.listKeyContests()).toHaveLength(1);
      store.endKeyContest(bob);
      expect(store.getKeyContest(bob)).toBeUndefined();
    });

    it('holds messages in order and reports each discarded one once', () => {
      store.addHeldSend({ id: 'm1', users: [bob], request: '{"a":1}', createdAt: 1 });
      store.addHeldSend({ id: 'm2', users: [bob], request: '{"a":2}', createdAt: 2 });
      expect(store.listHeldSends().map((h) => h.id)).toEqual(['m1', 'm2']);
      store.discardHeldSend('m1', 'refused', 3);
      store.deleteHeldSend('m2');
      expect(store.listHeldSends()).toEqual([]);
      expect(store.takeDiscardedSends()).toEqual([{ id: 'm1', users: [bob], request: '{"a":1}', createdAt: 1, discarded: 'refused' }]);
      expect(store.takeDiscardedSends()).toEqual([]);
    });

    it('keeps at most the newest 1,000 unreadable records', () => {
      for (let i = 0; i < 1005; i++) store.recordUnreadable({ seq: i, conversation: undefined, kind: 'app', fromUser: bob, reason: `r${i}`, at: i });
      const list = store.listUnreadable();
      expect(list).toHaveLength(1000);
      expect(list[0]!.seq).toBe(5);
    });

    it('queues removals asked for by notices until done', () => {
      const { id } = conversation();
      const device = newDeviceId();
      store.addPendingRemoval(id, device);
      store.addPendingRemoval(id, device);
      expect(store.listPendingRemovals()).toEqual([{ conversation: id, device }]);
      store.deletePendingRemoval(id, device);
      expect(store.listPendingRemovals()).toEqual([]);
    });
  });
}
