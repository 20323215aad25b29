// The browser profile store against the same contract as the SQLite one. IndexedDB here is `fake-indexeddb` (an
// in-memory implementation of the IndexedDB spec, named as the stand-in it is: Node has no IndexedDB); WebCrypto is
// Node's own. The same store runs in real Chromium in test/e2e/web-client.test.ts.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { newConversationId, parseUserId } from '@sealpost/protocol';
import { runProfileStorageContract } from '../../../client/src/profile-storage.testkit.js';
import { IdbProfileStore } from './profile-store.idb.js';
import { databaseName } from './sealed-records.js';

let n = 0;
const fresh = () => `contract-${process.pid}-${++n}`;

runProfileStorageContract('IndexedDB profile', () => IdbProfileStore.open(fresh(), { create: true }));
runProfileStorageContract('IndexedDB profile, passphrase', () => IdbProfileStore.open(fresh(), { create: true, passphrase: 'correct horse' }));

/** Every value IndexedDB holds for a profile, as raw bytes. */
async function rawRecords(profile: string): Promise<Uint8Array[]> {
  const db = await new Promise<IDBDatabase>((ok, fail) => {
    const r = indexedDB.open(databaseName(profile));
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  const values = await new Promise<unknown[]>((ok, fail) => {
    const r = db.transaction('records').objectStore('records').getAll();
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  db.close();
  return values.map((v) => v as Uint8Array);
}

describe('IndexedDB profile at rest', () => {
  const alice = parseUserId('alice@localhost');

  it('keeps what was written across a reopen, and nothing a failed exclusive run wrote', async () => {
    const name = fresh();
    const a = await IdbProfileStore.open(name, { create: true });
    a.setMeta('kept', 'yes');
    await a.exclusive(async () => a.setMeta('inside', 'committed'));
    await expect(a.exclusive(async () => {
      a.setMeta('lost', 'x');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    await a.flush();
    a.close();
    const b = await IdbProfileStore.open(name, { create: false });
    expect(b.getMetaText('kept')).toBe('yes');
    expect(b.getMetaText('inside')).toBe('committed');
    expect(b.getMetaText('lost')).toBeUndefined();
    b.close();
  });

  it('stores no readable content: a marker in a message is in no raw record', async () => {
    const name = fresh();
    const s = await IdbProfileStore.open(name, { create: true });
    const marker = 'MARKER-7f3a9c-do-not-leak';
    const conv = newConversationId();
    s.putConversation({ id: conv, kind: 'chat', status: 'active', epoch: 0, members: [alice], state: new TextEncoder().encode(marker), stateFormat: 'full', updatedAt: 1 });
    s.addMessage({ conversation: conv, id: 'm1' as never, senderUser: alice, senderDevice: 'd1' as never, sentAt: 1, receivedAt: 1, direction: 'in', content: { text: marker } });
    await s.flush();
    const raw = await rawRecords(name);
    expect(raw.length).toBeGreaterThan(0);
    const needle = new TextEncoder().encode(marker.slice(0, 12));
    const userNeedle = new TextEncoder().encode('alice@');
    for (const r of raw) {
      const text = Buffer.from(r).toString('latin1');
      expect(text.includes(Buffer.from(needle).toString('latin1'))).toBe(false);
      expect(text.includes(Buffer.from(userNeedle).toString('latin1'))).toBe(false);
    }
    s.close();
  });

  it('asks for the passphrase, refuses a wrong one, and opens with the right one', async () => {
    const name = fresh();
    const s = await IdbProfileStore.open(name, { create: true, passphrase: 'correct horse' });
    expect(s.encrypted).toBe(true);
    s.setMeta('k', 'v');
    await s.flush();
    s.close();
    await expect(IdbProfileStore.open(name, { create: false })).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' });
    await expect(IdbProfileStore.open(name, { create: false, passphrase: 'wrong' })).rejects.toMatchObject({ code: 'PASSPHRASE_WRONG' });
    const t = await IdbProfileStore.open(name, { create: false, passphrase: 'correct horse' });
    expect(t.getMetaText('k')).toBe('v');
    // Changing the passphrase re-encrypts every record; removing it leaves the profile under this browser's key.
    t.changePassphrase(undefined);
    await t.flush();
    expect(t.encrypted).toBe(false);
    t.close();
    const u = await IdbProfileStore.open(name, { create: false });
    expect(u.getMetaText('k')).toBe('v');
    u.close();
  });

  it('refuses to make a profile over an existing one, and to open one that does not exist', async () => {
    const name = fresh();
    (await IdbProfileStore.open(name, { create: true })).close();
    await expect(IdbProfileStore.open(name, { create: true })).rejects.toMatchObject({ code: 'PROFILE_EXISTS' });
    await expect(IdbProfileStore.open(fresh(), { create: false })).rejects.toMatchObject({ code: 'NOT_ENROLLED' });
  });

  it('erase deletes the whole database (a remote wipe)', async () => {
    const name = fresh();
    const s = await IdbProfileStore.open(name, { create: true });
    s.setMeta('k', 'v');
    s.erase();
    await s.erased;
    const names = (await indexedDB.databases()).map((d) => d.name);
    expect(names).not.toContain(databaseName(name));
  });

  it('refuses a record that was altered', async () => {
    const name = fresh();
    const s = await IdbProfileStore.open(name, { create: true });
    s.setMeta('k', 'v');
    await s.flush();
    s.close();
    const db = await new Promise<IDBDatabase>((ok) => {
      const r = indexedDB.open(databaseName(name));
      r.onsuccess = () => ok(r.result);
    });
    await new Promise<void>((ok) => {
      const tx = db.transaction('records', 'readwrite');
      const store = tx.objectStore('records');
      const c = store.openCursor();
      c.onsuccess = () => {
        const cur = c.result!;
        const v = new Uint8Array(cur.value as Uint8Array);
        v[v.length - 1]! ^= 1;
        cur.update(v);
      };
      tx.oncomplete = () => ok();
    });
    db.close();
    await expect(IdbProfileStore.open(name, { create: false })).rejects.toMatchObject({ code: 'STORE_TAMPERED' });
  });
});
