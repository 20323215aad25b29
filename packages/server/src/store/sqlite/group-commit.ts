// Group commit for the SQLite adapter (design.md, Storage): writes that arrive in one turn of the event loop share one
// transaction, so one fsync (synchronous=FULL) acknowledges them all. Each write keeps its own savepoint inside the
// batch's transaction (the `tx` given), so one failing write fails alone; every caller is answered only after the
// shared transaction has committed. Used for messages (delivery.ts) and inbound outside mail (mail.ts).

export interface Waiting<I, R> {
  input: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export type Outcome<R> = { ok: R } | { err: unknown };

/** Queue a write; the first of a turn schedules `flush`. */
export function waitForCommit<I, R>(queue: Waiting<I, R>[], input: I, flush: () => void): Promise<R> {
  return new Promise((resolve, reject) => {
    queue.push({ input, resolve, reject });
    if (queue.length === 1) setImmediate(flush);
  });
}

/** Run up to `max` queued writes in one transaction (`tx`) and answer each; more waiting: `flush` again next turn. */
export function commitBatch<I, R>(queue: Waiting<I, R>[], max: number, flush: () => void, tx: (inputs: I[]) => Outcome<R>[]): void {
  const batch = queue.splice(0, max);
  if (batch.length === 0) return; // emptied by close()
  if (queue.length > 0) setImmediate(flush);
  let outcomes: Outcome<R>[];
  try {
    outcomes = tx(batch.map((b) => b.input));
  } catch (err) {
    // The commit itself failed: nothing of the batch is stored.
    for (const b of batch) b.reject(err);
    return;
  }
  batch.forEach((b, i) => {
    const o = outcomes[i]!;
    if ('ok' in o) b.resolve(o.ok);
    else b.reject(o.err);
  });
}
