import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newConversationId, newDeviceId, newMessageId, parseUserId, type DeviceId, type UserId } from '@sealpost/protocol';
import { runStoreContract } from './contract.testkit.js';
import { openSqliteStore } from './sqlite.js';
import { sqliteMigrations } from './sqlite-migrations.js';

runStoreContract('sqlite :memory:', async () => openSqliteStore(':memory:'));

describe('SQLite store file', () => {
  it('migrates once and keeps data across reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-sqlite-'));
    try {
      const file = join(dir, 'db.sqlite');
      const a = openSqliteStore(file);
      await a.setMeta('k', 'v');
      expect(a.db.pragma('journal_mode', { simple: true })).toBe('wal');
      await a.close();
      const b = openSqliteStore(file);
      expect(await b.getMeta('k')).toBe('v');
      expect(b.db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()).toEqual({ n: sqliteMigrations.length });
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite acks', () => {
  const h = (n: number) => new Uint8Array(32).fill(n);
  async function enrolled(store: ReturnType<typeof openSqliteStore>, user: UserId): Promise<DeviceId> {
    const device = newDeviceId();
    await store.createUser({ user, name: undefined, now: 1 }, { codeHash: h(1), expiresAt: 1000 });
    await store.enroll({
      user,
      codeHash: h(1),
      now: 10,
      maxAttempts: 3,
      device: { id: device, name: 'laptop', signatureKey: h(9) },
      deviceList: { version: 1, accountKey: h(8), body: h(7), signature: h(6) },
      keyPackages: [],
      lastResort: { ref: `${device}-last`, data: h(99) },
    });
    return device;
  }

  it('commit without an fsync of their own, are synced by the next append or within a second, and survive a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-sqlite-'));
    try {
      const file = join(dir, 'db.sqlite');
      const store = openSqliteStore(file);
      const alice = parseUserId('alice@localhost');
      const a = await enrolled(store, alice);
      const b = await enrolled(store, parseUserId('bob@localhost'));
      const c = newConversationId();
      await store.createConversation(c, a, 1);
      await store.appendCommit({ conversation: c, sender: { device: a, user: alice }, epoch: 0, id: newMessageId(), payload: h(1), welcome: h(2), add: [b], remove: [], now: 5 });
      const send = () => store.appendMessage({ conversation: c, sender: { device: a, user: alice }, epoch: 1, id: newMessageId(), payload: h(4), now: 7 });
      await send();
      await send();
      const [welcome, first, second] = await store.fetchQueue(b, 0, 10);
      expect(await store.ack(b, [welcome!.seq, first!.seq])).toBe(2);
      expect(store.acksUnsynced).toBeDefined(); // committed, its fsync still to come
      expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL again for everything else
      await send(); // an append's commit syncs the WAL, and with it the acks before it
      expect(store.acksUnsynced).toBeUndefined();
      expect(await store.ack(b, [second!.seq])).toBe(1);
      await new Promise((r) => setTimeout(r, 1300)); // a quiet server syncs them within a second
      expect(store.acksUnsynced).toBeUndefined();
      await store.close();
      const again = openSqliteStore(file);
      expect((await again.fetchQueue(b, 0, 10)).map((i) => i.k)).toEqual(['app']); // only the one never acked
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
