// A fetch answer: the next queue items in seq order, bounded in count and in payload bytes, so every batch fits in
// a frame the client takes (limits.maxBatchBytes). One rule for both store adapters, which supply the rows.
import { limits, type DeviceId, type QueueItem } from '@sealpost/protocol';
import type { ServerStore } from '../store/store.js';

export interface FetchBatch {
  items: QueueItem[];
  more: boolean;
}

/**
 * Items after `after`: at most `limit`, and at most `maxBytes` of payload — but always the first item, whatever its
 * size (it is at most limits.maxMlsMessageBytes), so a queue never stops behind a large item.
 */
export async function fetchBatch(store: ServerStore, device: DeviceId, after: number, limit: number, maxBytes: number = limits.maxBatchBytes): Promise<FetchBatch> {
  const entries = await store.listQueue(device, after, limit + 1);
  const take = fitting(entries.slice(0, limit), maxBytes, (e) => e.bytes);
  if (take === 0) return { items: [], more: false };
  const fetched = await store.fetchQueue(device, after, take, entries[take - 1]!.seq);
  // With several nodes a lower seq can become visible between the two reads; the budget holds all the same.
  const items = fetched.slice(0, fitting(fetched, maxBytes, (i) => i.p.length));
  return { items, more: entries.length > take || items.length < fetched.length };
}

/** How many of `xs`, from the start, fit in `maxBytes` (at least one when there is one). */
function fitting<T>(xs: T[], maxBytes: number, size: (x: T) => number): number {
  let bytes = 0;
  let n = 0;
  for (const x of xs) {
    bytes += size(x);
    if (n > 0 && bytes > maxBytes) break;
    n++;
  }
  return n;
}
