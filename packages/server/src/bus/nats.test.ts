// The NATS bus: what is published in one turn reaches a device on another node in publishing order, cut into
// NATS messages that fit the server's max_payload. The real NATS needs SEALPOST_TEST_NATS_URL (.ci/run sets it);
// without it that part is skipped. The two nodes share one store (SQLite in memory) for presence, as two nodes
// share PostgreSQL.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { newDeviceId, newMessageId, newConversationId, parseUserId, type QueueItem } from '@sealpost/protocol';
import { openSqliteStore } from '../store/sqlite.js';
import { createNatsBus, splitPush } from './nats.js';

const natsUrl = process.env.SEALPOST_TEST_NATS_URL;
const alice = parseUserId('alice@localhost');

function item(seq: number, size: number): QueueItem {
  return { seq, c: newConversationId(), k: 'app', e: 1, id: newMessageId(), from: newDeviceId(), fromUser: alice, at: seq, p: new Uint8Array(size).fill(seq % 251) };
}

describe('splitPush', () => {
  it('keeps order, stays under the byte bound, and never leaves an item out', () => {
    const d = newDeviceId();
    const items = Array.from({ length: 50 }, (_v, i) => ({ d, i: item(i + 1, 10_000) }));
    const parts = splitPush(items, 64 * 1024);
    expect(parts.flat()).toEqual(items);
    for (const p of parts) expect(p.reduce((n, x) => n + x.i.p.byteLength + 512, 0)).toBeLessThanOrEqual(64 * 1024);
    // An item larger than the bound goes alone rather than being dropped.
    expect(splitPush([{ d, i: item(1, 100_000) }, { d, i: item(2, 10) }], 64 * 1024).map((p) => p.length)).toEqual([1, 1]);
    // At most 10,000 items per push, whatever their size.
    expect(splitPush(Array.from({ length: 25_000 }, (_v, i) => ({ d, i: item(i + 1, 0) })), 1e12).map((p) => p.length)).toEqual([10_000, 10_000, 5_000]);
  });
});

describe.skipIf(!natsUrl)('NATS bus between two nodes', () => {
  it('delivers 300 items of 8 KiB published in one turn (2.4 MB, over NATS max_payload) in order', async () => {
    const store = openSqliteStore(':memory:');
    const log = pino({ level: process.env.DEBUG_NATS ? 'debug' : 'silent' });
    const a = await createNatsBus({ url: natsUrl!, store, log });
    const b = await createNatsBus({ url: natsUrl!, store, log });
    try {
      const device = newDeviceId();
      const got: number[] = [];
      const all = new Promise<void>((resolve) => {
        void b.subscribe(device, (it) => {
          got.push(it.seq);
          if (got.length === 300) resolve();
        });
      });
      await b.connection.flush();
      // subscribe() resolves once the presence is stored; wait for it through the store.
      for (let i = 0; i < 100 && (await store.presenceOf([device])).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      a.publish(Array.from({ length: 300 }, (_v, i) => ({ device, item: item(i + 1, 8 * 1024) })));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error(`only ${got.length} of 300 arrived`)), 10_000)))]);
      clearTimeout(timer);
      expect(got).toEqual(Array.from({ length: 300 }, (_v, i) => i + 1));
    } finally {
      await a.close();
      await b.close();
      await store.close();
    }
  });
});
