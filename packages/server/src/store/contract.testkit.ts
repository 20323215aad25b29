// The contract every ServerStore adapter must pass (SQLite and PostgreSQL): run it with a factory.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newConversationId, newDeviceId, newMessageId, parseUserId, type BlobId, type DeviceId, type UserId } from '@sealpost/protocol';
import type { EnrollInput, ServerStore } from './store.js';

const h = (n: number) => new Uint8Array(32).fill(n);

export function runStoreContract(name: string, open: () => Promise<ServerStore>): void {
  describe(`ServerStore contract: ${name}`, () => {
    let store: ServerStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    const alice = parseUserId('alice@localhost');
    const bob = parseUserId('bob@localhost');

    async function enrolled(user: UserId, device: DeviceId = newDeviceId(), kps = 3): Promise<DeviceId> {
      expect(await store.createUser({ user, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 1000 })).toBe(true);
      const input: EnrollInput = {
        user,
        codeHash: h(1),
        now: 10,
        maxAttempts: 3,
        device: { id: device, name: 'laptop', signatureKey: h(9) },
        deviceList: { version: 1, accountKey: h(8), body: h(7), signature: h(6) },
        keyPackages: Array.from({ length: kps }, (_, i) => ({ ref: `${device}-kp${i}`, data: h(i) })),
        lastResort: { ref: `${device}-last`, data: h(99) },
      };
      expect(await store.enroll(input)).toBe('ok');
      return device;
    }

    it('keeps meta values', async () => {
      expect(await store.getMeta('x')).toBeUndefined();
      await store.setMeta('x', '1');
      await store.setMeta('x', '2');
      expect(await store.getMeta('x')).toBe('2');
    });

    it('creates a user once', async () => {
      expect(await store.createUser({ user: alice, name: 'Alice', now: 1 }, { codeHash: h(1), expiresAt: 100 })).toBe(true);
      expect(await store.createUser({ user: alice, name: 'Alice', now: 1 }, { codeHash: h(2), expiresAt: 100 })).toBe(false);
      expect(await store.getUser(alice)).toMatchObject({ user: alice, name: 'Alice', status: 'active', deviceCount: 0 });
      expect((await store.listUsers()).map((u) => u.user)).toEqual([alice]);
    });

    /** A first device's enrollment of alice (no one-time KeyPackages), with the code hash given. */
    const firstDevice = (codeHash: Uint8Array): EnrollInput => ({
      user: alice,
      codeHash,
      now: 10,
      maxAttempts: 3,
      device: { id: newDeviceId(), name: undefined, signatureKey: h(9) },
      deviceList: { version: 1, accountKey: h(8), body: h(7), signature: h(6) },
      keyPackages: [],
      lastResort: { ref: 'last', data: h(99) },
    });

    it('counts wrong activation codes and kills the code after the limit', async () => {
      await store.createUser({ user: alice, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 1000 });
      const base = firstDevice(h(1));
      expect(await store.activationCodeHash(alice)).toEqual(h(1));
      expect(await store.enroll({ ...base, codeHash: h(2) })).toBe('invalid');
      await store.countWrongActivation(alice);
      // A wrong code always gets the same answer; only the right one learns that the code died.
      expect(await store.enroll({ ...base, codeHash: h(2) })).toBe('invalid');
      expect(await store.enroll({ ...base, codeHash: h(2) })).toBe('invalid');
      expect(await store.enroll({ ...base, codeHash: h(1) })).toBe('exhausted');
      expect(await store.activationCodeHash(parseUserId('nobody@localhost'))).toBeUndefined();
    });

    it('refuses an expired code and a used code', async () => {
      await store.createUser({ user: alice, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 5 });
      const input = firstDevice(h(1));
      expect(await store.enroll(input)).toBe('expired');
      expect(await store.enroll({ ...input, now: 4 })).toBe('ok');
      expect(await store.enroll({ ...input, now: 4, device: { ...input.device, id: newDeviceId() } })).toBe('invalid');
      expect((await store.getDeviceList(alice))?.version).toBe(1);
    });

    it('reissues an activation code to a user who has not enrolled, and only to one', async () => {
      await store.createUser({ user: alice, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 5 });
      const input = firstDevice(h(2));
      expect(await store.reissueActivation(alice, { codeHash: h(2), expiresAt: 100 })).toBe('ok');
      expect(await store.activationCodeHash(alice)).toEqual(h(2));
      expect(await store.enroll(input)).toBe('ok');
      expect(await store.reissueActivation(alice, { codeHash: h(3), expiresAt: 100 })).toBe('enrolled');
      expect(await store.reissueActivation(bob, { codeHash: h(3), expiresAt: 100 })).toBe('missing');
    });

    it('claims one-time KeyPackages first and keeps the last-resort one', async () => {
      const d = await enrolled(alice, newDeviceId(), 2);
      expect(await store.countKeyPackages(d)).toBe(2);
      const refs: (number | undefined)[] = [];
      for (let i = 0; i < 4; i++) {
        const [c] = await store.claimKeyPackages([alice], []);
        refs.push(c?.data?.[0]);
      }
      expect(refs).toEqual([0, 1, 99, 99]);
      expect(await store.countKeyPackages(d)).toBe(0);
      expect(await store.claimKeyPackages([alice], [d])).toEqual([]);
      expect(await store.addKeyPackages(d, [{ ref: 'n1', data: h(5) }], undefined, 1)).toBe(1);
      expect(await store.addKeyPackages(d, [{ ref: 'n2', data: h(5) }], undefined, 1)).toBeUndefined();
    });

    it('takes a challenge once, and finds live sessions only', async () => {
      const d = await enrolled(alice);
      await store.putChallenge(d, h(3), 100);
      expect(await store.takeChallenge(d, h(3), 50)).toBe(true);
      expect(await store.takeChallenge(d, h(3), 50)).toBe(false);
      await store.putChallenge(d, h(4), 100);
      expect(await store.takeChallenge(d, h(4), 100)).toBe(false);
      await store.createSession(h(5), d, Date.now() + 60_000);
      expect(await store.getSession(h(5), Date.now())).toMatchObject({ device: d, user: alice, expiresAt: expect.any(Number) });
      expect(await store.getSession(h(5), Date.now() + 120_000)).toBeUndefined();
    });

    it('accepts exactly one commit per epoch and routes commit, Welcome and messages', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const c = newConversationId();
      expect(await store.createConversation(c, a, 1)).toBe(true);
      expect(await store.createConversation(c, a, 1)).toBe(false);
      const id1 = newMessageId();
      const add = await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: id1, payload: h(1), welcome: h(2), add: [b], remove: [], now: 5 });
      expect(add).toMatchObject({ kind: 'ok', epoch: 1, duplicate: false });
      if (add.kind !== 'ok') throw new Error();
      expect(add.deliveries.map((d) => [d.device, d.item.k])).toEqual([[b, 'welcome']]);
      // a resend of the winner is acknowledged again; a different commit for the same epoch loses
      expect(await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: id1, payload: h(1), welcome: h(2), add: [b], remove: [], now: 5 })).toMatchObject({ kind: 'ok', duplicate: true });
      expect(await store.appendCommit({ conversation: c, sender: { device: b, user: bob }, epoch: 0, id: newMessageId(), payload: h(3), welcome: undefined, add: [], remove: [], now: 6 })).toEqual({ kind: 'epoch-conflict', epoch: 1 });
      // application messages: current epoch only, fanned out to the others, de-duplicated by id
      expect(await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(4), now: 7 })).toEqual({ kind: 'epoch-conflict', epoch: 1 });
      const mid = newMessageId();
      const sent = await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: mid, payload: h(4), now: 7 });
      if (sent.kind !== 'ok') throw new Error();
      expect(sent.deliveries.map((d) => d.device)).toEqual([b]);
      expect(await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: mid, payload: h(4), now: 7 })).toMatchObject({ kind: 'ok', duplicate: true, deliveries: [] });
      // outsiders and unknown conversations
      const eve = await enrolled(parseUserId('eve@localhost'));
      expect(await store.appendMessage({ conversation: c, sender: { device: eve, user: parseUserId('eve@localhost') }, epoch: 1, id: newMessageId(), payload: h(4), now: 7 })).toEqual({ kind: 'not-member' });
      expect(await store.appendMessage({ conversation: newConversationId(), sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(4), now: 7 })).toEqual({ kind: 'not-found' });

      const queue = await store.fetchQueue(b, 0, 10);
      expect(queue.map((i) => i.k)).toEqual(['welcome', 'app']);
      expect(queue[1]).toMatchObject({ c, e: 1, id: mid, from: a, fromUser: alice, at: 7 });
      expect(queue[0]!.seq).toBeLessThan(queue[1]!.seq);
      expect(await store.fetchQueue(b, queue[0]!.seq, 10)).toHaveLength(1);
      expect(await store.fetchQueue(b, 0, 10, queue[0]!.seq)).toEqual([queue[0]]);
      // the queue's metadata, for byte-budgeted batches and the admin's view: never the payload
      expect(await store.listQueue(b, 0, 10)).toEqual([
        { seq: queue[0]!.seq, conversation: c, kind: 'welcome', fromUser: alice, at: 5, bytes: queue[0]!.p.length },
        { seq: queue[1]!.seq, conversation: c, kind: 'app', fromUser: alice, at: 7, bytes: queue[1]!.p.length },
      ]);
      expect(await store.listQueue(b, queue[0]!.seq, 10)).toHaveLength(1);
      expect(await store.ack(a, [queue[0]!.seq])).toBe(0); // not a's item
      expect(await store.ack(b, queue.map((i) => i.seq))).toBe(2);
      expect(await store.fetchQueue(b, 0, 10)).toEqual([]);
      expect(await store.queueDepth()).toBe(0);

      // removal: the removed device still receives the commit that removes it, then nothing
      const rm = await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(5), welcome: undefined, add: [], remove: [b], now: 8 });
      expect(rm).toMatchObject({ kind: 'ok', epoch: 2 });
      expect((await store.getConversation(c))?.members).toEqual([a]);
      expect((await store.fetchQueue(b, 0, 10)).map((i) => i.k)).toEqual(['commit']);
      expect(await store.appendMessage({ conversation: c, sender: { device: b, user: bob }, epoch: 2, id: newMessageId(), payload: h(4), now: 9 })).toEqual({ kind: 'not-member' });
    });

    it('acks sent together are each counted for their own device, once, and free the message when the last goes', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const carol = parseUserId('carol@localhost');
      const d = await enrolled(carol);
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      const add = await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b, d], remove: [], now: 5 });
      expect(add).toMatchObject({ kind: 'ok', epoch: 1 });
      const m = await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(4), now: 7 });
      if (m.kind !== 'ok') throw new Error();
      const qb = await store.fetchQueue(b, 0, 10);
      const qd = await store.fetchQueue(d, 0, 10);
      expect(qb).toHaveLength(2);
      expect(qd).toHaveLength(2);
      // Same turn of the event loop: b's items, d's items, d naming b's items (not its own), b again (already gone).
      const counts = await Promise.all([
        store.ack(b, qb.map((i) => i.seq)),
        store.ack(d, [...qd.map((i) => i.seq), ...qb.map((i) => i.seq)]),
        store.ack(b, [qb[1]!.seq, qb[1]!.seq]),
      ]);
      expect(counts).toEqual([2, 2, 0]);
      expect(await store.queueDepth()).toBe(0);
      // Nothing refers to the message any more, so a fetch finds nothing and a new message still flows.
      expect(await store.fetchQueue(b, 0, 10)).toEqual([]);
      const again = await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(5), now: 8 });
      expect(again).toMatchObject({ kind: 'ok', duplicate: false });
      expect(await store.fetchQueue(d, 0, 10)).toHaveLength(1);
    });

    it('refuses commits that add members twice or remove strangers', async () => {
      const a = await enrolled(alice);
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      const base = { conversation: c, sender: { device: a, user: alice }, epoch: 0, payload: h(1), now: 2 };
      expect(await store.appendCommit({ ...base, id: newMessageId(), welcome: h(2), add: [a], remove: [] })).toMatchObject({ kind: 'invalid' });
      expect(await store.appendCommit({ ...base, id: newMessageId(), welcome: undefined, add: [], remove: [newDeviceId()] })).toMatchObject({ kind: 'invalid' });
      expect(await store.appendCommit({ ...base, id: newMessageId(), welcome: h(2), add: [newDeviceId()], remove: [] })).toMatchObject({ kind: 'invalid' });
      expect((await store.getConversation(c))?.epoch).toBe(0);
    });

    it('keeps blob records: quota, grants through delivered messages, release and stale uploads', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const blob = 'b_AAAAAAAAAAAAAAAAAAAAAA' as BlobId;
      expect(await store.createBlob({ id: blob, ownerUser: alice, ownerDevice: a, size: 600, now: 1 }, 1000)).toBe('ok');
      expect(await store.createBlob({ id: 'b_BBBBBBBBBBBBBBBBBBBBBB' as BlobId, ownerUser: alice, ownerDevice: a, size: 600, now: 1 }, 1000)).toBe('quota');
      expect(await store.blobBytesOf(alice)).toBe(600);
      expect(await store.hasBlobGrant(blob, a)).toBe(true);
      expect(await store.hasBlobGrant(blob, b)).toBe(false);

      const c = newConversationId();
      await store.createConversation(c, a, 1);
      await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 2 });
      // An incomplete blob cannot be sent.
      expect(await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(3), now: 3, blobs: [blob] })).toEqual({ kind: 'blob-not-found', blob });
      await store.setBlobReceived(blob, 600, true, 4);
      expect(await store.getBlob(blob)).toMatchObject({ received: 600, complete: true, size: 600 });
      // Bob cannot pass on a blob he was never given.
      const bobs = await store.appendMessage({ conversation: c, sender: { device: b, user: bob }, epoch: 1, id: newMessageId(), payload: h(3), now: 3, blobs: [blob] });
      expect(bobs).toEqual({ kind: 'blob-not-found', blob });
      const sent = await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(3), now: 5, blobs: [blob] });
      expect(sent.kind).toBe('ok');
      expect(await store.hasBlobGrant(blob, b)).toBe(true);
      expect(await store.blobBytesOf(alice)).toBe(600);
      expect(await store.releaseBlobGrant(blob, a)).toBe(false);
      // Released by its uploader: off alice's quota, though bob still holds it.
      expect(await store.blobBytesOf(alice)).toBe(0);
      expect(await store.releaseBlobGrant(blob, b)).toBe(true);
      expect(await store.getBlob(blob)).toBeUndefined();

      const stale = 'b_CCCCCCCCCCCCCCCCCCCCCC' as BlobId;
      await store.createBlob({ id: stale, ownerUser: alice, ownerDevice: a, size: 10, now: 100 }, 1000);
      expect(await store.deleteStaleUploads(50)).toEqual([]);
      expect(await store.deleteStaleUploads(200)).toEqual([stale]);
      expect(await store.blobBytesOf(alice)).toBe(0);
    });

    it('keeps presence per device and node', async () => {
      const a = newDeviceId();
      const b = newDeviceId();
      await store.addPresence(a, 'n1', 1);
      await store.addPresence(a, 'n2', 2);
      await store.addPresence(a, 'n2', 3);
      await store.addPresence(b, 'n1', 4);
      const sorted = (xs: { device: string; node: string }[]) => xs.map((x) => `${x.device}@${x.node}`).sort();
      expect(sorted(await store.presenceOf([a, b]))).toEqual([`${a}@n1`, `${a}@n2`, `${b}@n1`].sort());
      await store.removePresence(a, 'n2');
      await store.clearPresence('n1');
      expect(await store.presenceOf([a, b])).toEqual([]);
      expect(await store.presenceOf([])).toEqual([]);
    });

    it('accepts many concurrent appends, each exactly once', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 2 });
      const ids = Array.from({ length: 300 }, () => newMessageId());
      const results = await Promise.all([
        ...ids.map((id) => store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id, payload: h(3), now: 3 })),
        // A bad one in the middle of the batch fails alone.
        store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 7, id: newMessageId(), payload: h(3), now: 3 }),
        store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: ids[0]!, payload: h(3), now: 3 }),
      ]);
      expect(results.slice(0, 300).every((r) => r.kind === 'ok' && !r.duplicate)).toBe(true);
      expect(results[300]).toEqual({ kind: 'epoch-conflict', epoch: 1 });
      expect(results[301]).toMatchObject({ kind: 'ok', duplicate: true });
      // Concurrent calls may be ordered either way (a connection's own frames are handled one at a time, which is
      // what keeps a sender's order); each is stored exactly once.
      const queued = (await store.fetchQueue(b, 0, 1000)).filter((i) => i.k === 'app').map((i) => i.id as string);
      expect([...queued].sort()).toEqual([...ids].sort());
    });
    it('appends arriving together to two conversations keep their arrival order; bad ones fail alone', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const c1 = newConversationId();
      const c2 = newConversationId();
      for (const c of [c1, c2]) {
        await store.createConversation(c, a, 1);
        await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 2 });
      }
      const eve = await enrolled(parseUserId('eve@localhost'));
      const ids = Array.from({ length: 100 }, () => newMessageId());
      const results = await Promise.all([
        ...ids.map((id, i) => store.appendMessage({ conversation: i % 2 ? c2 : c1, sender: { device: i % 3 ? a : b, user: i % 3 ? alice : bob }, epoch: 1, id, payload: h(i), now: 3 })),
        store.appendMessage({ conversation: c1, sender: { device: eve, user: parseUserId('eve@localhost') }, epoch: 1, id: newMessageId(), payload: h(3), now: 3 }),
        store.appendMessage({ conversation: c2, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(3), now: 3 }),
        store.appendMessage({ conversation: newConversationId(), sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(3), now: 3 }),
      ]);
      expect(results.slice(0, 100).every((r) => r.kind === 'ok' && !r.duplicate && r.deliveries.length === 1)).toBe(true);
      expect(results.slice(100)).toEqual([{ kind: 'not-member' }, { kind: 'epoch-conflict', epoch: 1 }, { kind: 'not-found' }]);
      // Each recipient's queue holds the messages meant for it in the order they arrived.
      const fromA = (await store.fetchQueue(b, 0, 1000)).filter((i) => i.k === 'app').map((i) => i.id as string);
      const fromB = (await store.fetchQueue(a, 0, 1000)).filter((i) => i.k === 'app').map((i) => i.id as string);
      expect(fromA).toEqual(ids.filter((_id, i) => i % 3 !== 0));
      expect(fromB).toEqual(ids.filter((_id, i) => i % 3 === 0));
    });
    it('revokes devices: sessions, KeyPackages and queue go, members get a removal notice, the list advances', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 2 });
      await store.createSession(h(50), b, 10_000);
      const noticeId = newMessageId();
      expect(await store.revokeDevices(bob, [{ device: b, notice: h(77), noticeId }], 20, { version: 3, accountKey: h(8), body: h(5), signature: h(4) })).toBe('list-changed');
      const res = await store.revokeDevices(bob, [{ device: b, notice: h(77), noticeId }], 20, { version: 2, accountKey: h(8), body: h(5), signature: h(4) });
      if (res === 'list-changed') throw new Error('list-changed');
      expect(res.map((d) => [d.device, d.item.k, d.item.from, d.item.id])).toEqual([[a, 'remove', b, noticeId]]);
      expect((await store.getDevice(b))?.revokedAt).toBe(20);
      expect(await store.getSession(h(50), 30)).toBeUndefined();
      expect(await store.countKeyPackages(b)).toBe(0);
      expect(await store.fetchQueue(b, 0, 10)).toEqual([]);
      expect((await store.getConversation(c))?.members).toEqual([a]);
      expect((await store.getUser(bob))?.deviceCount).toBe(0);
      expect((await store.getDeviceList(bob))?.version).toBe(2);
      expect((await store.deviceListHistory(bob, 10)).map((l) => l.body)).toEqual([h(5), h(7)]);
      expect(await store.claimKeyPackages([bob], [])).toEqual([]);
      // A member's commit removing the revoked leaf is accepted although the device is no longer a member.
      expect(await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(3), welcome: undefined, add: [], remove: [b], now: 21 })).toMatchObject({ kind: 'ok', epoch: 2 });
      // …but a revoked device cannot be added back.
      expect(await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 2, id: newMessageId(), payload: h(3), welcome: h(2), add: [b], remove: [], now: 22 })).toMatchObject({ kind: 'invalid' });
    });

    it('resets a user: devices revoked, device list forgotten, a fresh activation code', async () => {
      const b = await enrolled(bob);
      await store.resetUser(bob, [{ device: b, notice: h(1), noticeId: newMessageId() }], { codeHash: h(33), expiresAt: 5000 }, 100);
      expect(await store.getDeviceList(bob)).toBeUndefined();
      expect(await store.deviceListHistory(bob, 10)).toEqual([]);
      expect((await store.getDevice(b))?.revokedAt).toBe(100);
      const again = { user: bob, codeHash: h(33), now: 200, maxAttempts: 3, device: { id: newDeviceId(), name: undefined, signatureKey: h(9) }, deviceList: { version: 1, accountKey: h(44), body: h(7), signature: h(6) }, keyPackages: [], lastResort: { ref: 'last2', data: h(99) } };
      expect(await store.enroll(again)).toBe('ok');
      expect((await store.getDeviceList(bob))?.accountKey).toEqual(h(44));
    });

    it('keeps link requests until approved, within the device limit and on the current list version', async () => {
      await enrolled(alice);
      const link = (n: number) => ({
        codeHash: h(100 + n), user: alice, device: newDeviceId(), name: 'phone', signatureKey: h(10), hpkeKey: h(11),
        keyPackages: [{ ref: `kp-${n}`, data: h(12) }], lastResort: { ref: `lr-${n}`, data: h(13) }, createdAt: 50, expiresAt: 500, sealed: undefined,
      });
      const l1 = link(1);
      expect(await store.createLink(l1, 2)).toBe(true);
      expect(await store.createLink(link(2), 2)).toBe(true);
      expect(await store.createLink(link(3), 2)).toBe(false);
      expect(await store.getLink(h(101))).toMatchObject({ user: alice, device: l1.device, keyPackages: [{ ref: 'kp-1' }], lastResort: { ref: 'lr-1' } });
      const list = { version: 2, accountKey: h(8), body: h(20), signature: h(21) };
      expect(await store.approveLink({ codeHash: h(101), deviceList: list, sealed: h(30), maxDevices: 1, now: 60 })).toBe('too-many-devices');
      expect(await store.approveLink({ codeHash: h(101), deviceList: { ...list, version: 5 }, sealed: h(30), maxDevices: 5, now: 60 })).toBe('list-changed');
      expect(await store.approveLink({ codeHash: h(101), deviceList: list, sealed: h(30), maxDevices: 5, now: 600 })).toBe('expired');
      expect(await store.approveLink({ codeHash: h(101), deviceList: list, sealed: h(30), maxDevices: 5, now: 60 })).toBe('ok');
      expect(await store.approveLink({ codeHash: h(101), deviceList: list, sealed: h(30), maxDevices: 5, now: 60 })).toBe('not-found');
      expect((await store.getLink(h(101)))?.sealed).toEqual(h(30));
      expect((await store.listDevices(alice)).map((d) => d.id)).toContain(l1.device);
      expect(await store.countKeyPackages(l1.device)).toBe(1);
      await store.deleteExpiredLinks(1000);
      expect(await store.getLink(h(101))).toBeUndefined();
    });

    it('chains audit entries by hash, keeps admin credentials and wipes', async () => {
      const e1 = await store.appendAudit({ at: 1, actor: 'root', action: 'user.add', target: 'alice@localhost', details: {} });
      const e2 = await store.appendAudit({ at: 2, actor: 'root', action: 'policy.set', target: 'x', details: { b: 2, a: 'one' } });
      expect(e1.seq).toBe(1);
      expect(e2.prevHash).toEqual(e1.hash);
      const all = await store.listAudit(0, 10);
      expect(all.map((e) => e.details)).toEqual([{}, { b: 2, a: 'one' }]);
      expect(all[1]!.hash).toEqual(e2.hash);
      expect(await store.listAudit(1, 10)).toHaveLength(1);

      expect(await store.addAdminToken('helpdesk', h(60), 1, ['users', 'devices'])).toBe(true);
      expect(await store.addAdminToken('helpdesk', h(61), 1, ['users'])).toBe(false);
      expect(await store.findAdminToken(h(60))).toEqual({ name: 'helpdesk', scopes: ['users', 'devices'] });
      expect(await store.revokeAdminToken('helpdesk', 2)).toBe(true);
      expect(await store.findAdminToken(h(60))).toBeUndefined();
      expect(await store.listAdminTokens()).toEqual([{ name: 'helpdesk', scopes: ['users', 'devices'], createdAt: 1, revokedAt: 2 }]);

      const d = newDeviceId();
      await store.putWipe({ device: d, command: h(1), signature: h(2), issuedAt: 5, confirmedAt: undefined });
      await store.confirmWipe(d, 9);
      expect(await store.getWipe(d)).toEqual({ device: d, command: h(1), signature: h(2), issuedAt: 5, confirmedAt: 9 });
    });

    it('deletes expired application messages and blobs for retention, keeps handshakes', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 2 });
      await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(3), now: 3 });
      await store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(3), now: 300 });
      const blob = 'b_AAAAAAAAAAAAAAAAAAAAAA' as BlobId;
      await store.createBlob({ id: blob, ownerUser: alice, ownerDevice: a, size: 10, now: 4 }, 1000);
      await store.setBlobReceived(blob, 10, true, 5);
      const res = await store.deleteOlderThan(100);
      expect(res).toEqual({ messages: 1, blobs: [blob] });
      expect((await store.fetchQueue(b, 0, 10)).map((i) => [i.k, i.at])).toEqual([['welcome', 2], ['app', 300]]);
      const held = await store.lookupUser(bob);
      expect(held).toMatchObject({ queuedItems: 2, blobs: 0, conversations: [{ id: c, memberDevices: 2 }] });
    });
    it('queues changed account records for key transparency and keeps published epochs', async () => {
      await enrolled(alice);
      const pending = await store.ktPending(10);
      expect(pending).toEqual([{ user: alice, seq: 1, list: { accountKey: h(8), version: 1, body: h(7) } }]);
      expect(await store.ktPending(10, bob)).toEqual([]);
      const epoch = { epoch: 0, timestamp: 5, prefixRoot: h(1), logRoot: h(2), signature: new Uint8Array(64) };
      const update = { label: alice, version: 1, value: h(3), opening: new Uint8Array(16), index: h(4) };
      expect(await store.ktPublish(epoch, [update], [{ user: alice, seq: 1 }])).toBe(true);
      expect(await store.ktPublish(epoch, [], [])).toBe(false); // another node was first
      expect(await store.ktPending(10)).toEqual([]);
      expect(await store.ktEpochs(-1, 10)).toEqual([{ ...epoch, updates: [update] }]);
      expect(await store.ktEpochs(0, 10)).toEqual([]);
      const update2 = { label: alice, version: 2, value: h(9), opening: new Uint8Array(16), index: h(10) };
      expect(await store.ktPublish({ ...epoch, epoch: 1 }, [update2], [])).toBe(true);
      expect(await store.ktVersions(alice, 1, 10)).toEqual([update, update2]);
      expect(await store.ktVersions(alice, 2, 10)).toEqual([update2]);
      expect(await store.ktVersions(alice, 1, 1)).toEqual([update]);
      expect(await store.ktVersions(bob, 1, 10)).toEqual([]);
      // Next-version indexes: a newer one replaces an older one, never the other way round.
      await store.ktPutNextIndexes([{ label: alice, version: 3, index: h(11) }, { label: bob, version: 1, index: h(12) }]);
      await store.ktPutNextIndexes([{ label: alice, version: 2, index: h(13) }]);
      expect((await store.ktNextIndexes([alice, bob, 'carol@example.org'])).sort((a, b) => a.label.localeCompare(b.label))).toEqual([{ label: alice, version: 3, index: h(11) }, { label: bob, version: 1, index: h(12) }]);
      await store.ktPutNextIndexes([{ label: alice, version: 4, index: h(14) }]);
      expect(await store.ktNextIndexes([alice])).toEqual([{ label: alice, version: 4, index: h(14) }]);
      // A change while an epoch was being built stays pending (its seq moved on).
      await store.resetUser(alice, [], { codeHash: h(5), expiresAt: 99 }, 6);
      expect((await store.ktPending(10)).map((p) => [p.user, p.list])).toEqual([[alice, undefined]]);
    });

    it('keeps legal-hold statements once each, queues the record for the log, and gives the latest with it', async () => {
      await enrolled(alice);
      const hold = { holdId: 'h_0123456789abcdef', user: alice, released: false, body: h(20), signature: h(21), at: 10 };
      const [first] = await store.ktPending(10);
      expect(first?.hold).toBeUndefined();
      expect(await store.putHoldStatement(hold)).toBe(true);
      expect(await store.putHoldStatement({ ...hold, body: h(22) })).toBe(false); // made twice
      let [p] = await store.ktPending(10, alice);
      expect(p).toMatchObject({ user: alice, seq: 2, hold: { body: h(20), signature: h(21) } });
      const release = { ...hold, released: true, body: h(23), signature: h(24), at: 20 };
      expect(await store.putHoldStatement(release)).toBe(true);
      expect(await store.putHoldStatement(release)).toBe(false); // released twice
      [p] = await store.ktPending(10, alice);
      expect(p).toMatchObject({ seq: 3, hold: { body: h(23), signature: h(24) } });
      expect(await store.holdStatements(alice)).toEqual([hold, release]);
      expect(await store.holdStatements(bob)).toEqual([]);
      expect(await store.holdStatements()).toEqual([hold, release]);
    });

    it('queues a hold notice in every conversation of the held user, to each member device', async () => {
      const a = await enrolled(alice);
      const b = await enrolled(bob);
      const carol = parseUserId('carol@localhost');
      const c3 = await enrolled(carol);
      const ab = newConversationId();
      const bc = newConversationId();
      const ac = newConversationId();
      for (const [conv, creator, other] of [[ab, a, b], [bc, b, c3], [ac, a, c3]] as const) {
        expect(await store.createConversation(conv, creator, 1)).toBe(true);
        expect(await store.appendCommit({ conversation: conv, sender: { device: creator, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [other], remove: [], now: 5 })).toMatchObject({ kind: 'ok' });
      }
      const org = { device: newDeviceId(), user: parseUserId('organisation@localhost') };
      const d = await store.appendHoldNotices({ user: bob, id: newMessageId(), payload: h(40), sender: org, now: 9 });
      // bob's two conversations, every member device of each; the conversation without bob gets nothing
      expect(d.map((x) => [x.item.c, x.device, x.item.k]).sort()).toEqual(
        [[ab, a, 'hold'], [ab, b, 'hold'], [bc, b, 'hold'], [bc, c3, 'hold']].sort(),
      );
      expect(d.every((x) => x.item.e === 1 && x.item.from === org.device)).toBe(true);
      expect(await store.appendHoldNotices({ user: parseUserId('dave@localhost'), id: newMessageId(), payload: h(40), sender: org, now: 9 })).toEqual([]);
    });

    it('keeps SCIM resources by type and id: put replaces, list in id order, delete', async () => {
      const r = { type: 'Group' as const, id: 'g_b', externalId: 'e1', data: '{"displayName":"B"}', createdAt: 1, updatedAt: 2, version: 1 };
      await store.scimPut(r);
      await store.scimPut({ ...r, id: 'g_a', externalId: null });
      await store.scimPut({ ...r, data: '{"displayName":"B2"}', version: 2 });
      expect(await store.scimGet('Group', 'g_b')).toEqual({ ...r, data: '{"displayName":"B2"}', version: 2 });
      expect(await store.scimGet('User', 'g_b')).toBeUndefined();
      expect((await store.scimList('Group')).map((g) => g.id)).toEqual(['g_a', 'g_b']);
      await store.scimDelete('Group', 'g_a');
      expect((await store.scimList('Group')).map((g) => g.id)).toEqual(['g_b']);
    });

    it('queues inbound outside mail to every active device once, with one blob granted to all its recipients', async () => {
      const a1 = await enrolled(alice);
      const b = await enrolled(bob);
      const carol = parseUserId('carol@localhost');
      await store.createUser({ user: carol, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 1000 });
      const id = newMessageId();
      const first = await store.appendInbound({ user: alice, id, payload: h(1), now: 5 });
      expect(first.kind).toBe('ok');
      expect(first.kind === 'ok' && first.deliveries.map((d) => [d.device, d.item.k])).toEqual([[a1, 'mail-in']]);
      // The same message again (a sender's retry): stored once.
      expect(await store.appendInbound({ user: alice, id, payload: h(2), now: 6 })).toEqual({ kind: 'duplicate' });
      // Nobody to deliver to: a user who never enrolled.
      expect(await store.appendInbound({ user: carol, id: newMessageId(), payload: h(1), now: 6 })).toEqual({ kind: 'no-devices' });
      // A large message: one blob, granted to every device of both recipients; several arriving together each stored.
      const blob = 'b_DDDDDDDDDDDDDDDDDDDDDD' as BlobId;
      const both = await Promise.all([
        store.appendInbound({ user: alice, id: newMessageId(), payload: h(3), now: 7, blob: { id: blob, size: 5000 } }),
        store.appendInbound({ user: bob, id: newMessageId(), payload: h(4), now: 7, blob: { id: blob, size: 5000 } }),
      ]);
      expect(both.map((r) => r.kind)).toEqual(['ok', 'ok']);
      expect(await store.hasBlobGrant(blob, a1)).toBe(true);
      expect(await store.hasBlobGrant(blob, b)).toBe(true);
      expect(await store.getBlob(blob)).toMatchObject({ complete: true, size: 5000 });
      expect((await store.fetchQueue(a1, 0, 10)).map((q) => q.k)).toEqual(['mail-in', 'mail-in']);
    });

    it('keeps the outbound queue: once per id, claimed with a lease, retried, removed when done, counted per user', async () => {
      const rec = { id: `${alice}/m1`, user: alice, from: alice as string, to: ['x@outside.example', 'y@outside.example'], payload: h(1), size: 32, encrypted: false, queuedAt: 100, attempts: 0, nextAttemptAt: 100, lastError: undefined };
      expect(await store.queueOutbound(rec)).toBe(true);
      expect(await store.queueOutbound(rec)).toBe(false);
      expect(await store.outboundCountSince(alice, 50)).toBe(2);
      expect(await store.outboundCountSince(alice, 150)).toBe(0);
      expect(await store.claimOutbound(99, 500, 10)).toEqual([]);
      const claimed = await store.claimOutbound(100, 500, 10);
      expect(claimed.map((c) => [c.id, c.attempts, c.to])).toEqual([[rec.id, 1, rec.to]]);
      // Leased: not claimed again before the lease ends.
      expect(await store.claimOutbound(200, 900, 10)).toEqual([]);
      await store.outboundAttempted(rec.id, ['y@outside.example'], 300, '451 try later');
      expect((await store.listOutbound(10)).map((r) => [r.to, r.nextAttemptAt, r.lastError])).toEqual([[['y@outside.example'], 300, '451 try later']]);
      expect((await store.claimOutbound(300, 900, 10)).map((c) => c.attempts)).toEqual([2]);
      await store.outboundAttempted(rec.id, [], 0, undefined);
      expect(await store.listOutbound(10)).toEqual([]);
      // Sent stays counted for the daily limit after the message left the queue.
      expect(await store.outboundCountSince(alice, 50)).toBe(2);
    });
  });
}