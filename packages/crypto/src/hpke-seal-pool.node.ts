// HPKE seals on a worker thread when a commit makes many at once. A key-update (or add) commit in a group of n
// members encrypts its path secrets to about n−1 recipients — ~100 µs each (a fresh X25519 key, one DH, the key
// schedule), ~100 ms at 1,000 members — and ts-mls issues them all together (Promise.all), then waits. The seals
// asked for in one turn of the event loop are collected; a small batch is sealed in-thread, a large one is split
// between this thread and the workers (one per spare core). Each seal uses a fresh ephemeral key drawn from
// node:crypto in the thread that makes it; what crosses to a worker is the recipient's public key, the info and the
// plaintext (a path secret), which never leave the process. The workers start on first use, are unreferenced while
// idle and end with the process. There is one pool per suite: X25519 seals (hpke.node.ts) and X-Wing seals (the
// pq-hybrid suite's, ~0.4 ms each: hpke-xwing.node.ts, hpke-seal-worker-hybrid.node.ts).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { seal, type HpkeKey } from './hpke.node.js';

/** Below this many seals in one turn, the round trip to a worker costs more than it saves. */
export const POOL_THRESHOLD = 48;

export interface SealJob {
  pub: Uint8Array;
  info: Uint8Array;
  aad: Uint8Array;
  pt: Uint8Array;
}
export interface Sealed {
  enc: Uint8Array;
  ct: Uint8Array;
}

/** A compiled worker next to this module; when tests run the TypeScript sources, the built one in dist/. */
function workerScript(name: string): URL | undefined {
  const built = new URL(`./${name}`, import.meta.url);
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(built))) return built;
  const dist = new URL(`../dist/${name}`, import.meta.url);
  return existsSync(fileURLToPath(dist)) ? dist : undefined;
}

/** Posting a view clones its whole buffer (a decoded message can be megabytes): send exactly the bytes. */
const own = (b: Uint8Array) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());

interface Pending {
  job: SealJob;
  /** The same seal made in this thread (when this thread takes it, or a worker died). */
  here: () => Sealed | Promise<Sealed>;
  resolve: (s: Sealed) => void;
  reject: (e: Error) => void;
}

/** Run a seal in this thread, synchronous or not, into its promise. */
function sealHere(p: Pending, onError?: Error): void {
  try {
    const r = p.here();
    if (r instanceof Promise) r.then(p.resolve, (err: Error) => p.reject(onError ?? err));
    else p.resolve(r);
  } catch (err) {
    p.reject(onError ?? (err as Error));
  }
}

class SealPool {
  private queue: Pending[] = [];
  private scheduled = false;
  private workers: Worker[] | undefined;
  private broken = false;
  private nextId = 0;
  private readonly waiting = new Map<number, Pending[]>();
  readonly counts = { inThread: 0, inWorkers: 0 };

  constructor(
    private readonly script: string,
    private readonly threads = Math.max(availableParallelism() - 1, 1),
  ) {}

  seal(pub: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, here: () => Sealed | Promise<Sealed>): Promise<Sealed> {
    return new Promise((resolve, reject) => {
      this.queue.push({ here, job: { pub: own(pub), info: own(info), aad: own(aad), pt: own(pt) }, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the current turn's promise callbacks: by then ts-mls has asked for every seal of the commit.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const workers = batch.length >= POOL_THRESHOLD ? this.start() : [];
    // This thread takes an equal share: it would otherwise only wait.
    const per = Math.ceil(batch.length / (workers.length + 1));
    workers.forEach((w, i) => {
      const part = batch.slice((i + 1) * per, (i + 2) * per);
      if (part.length === 0) return;
      const id = this.nextId++;
      this.waiting.set(id, part);
      w.ref();
      this.counts.inWorkers += part.length;
      w.postMessage({ id, jobs: part.map((p) => p.job) });
    });
    const mine = workers.length > 0 ? batch.slice(0, per) : batch;
    this.counts.inThread += mine.length;
    for (const p of mine) sealHere(p);
  }

  private start(): Worker[] {
    if (this.workers || this.broken) return this.workers ?? [];
    const script = workerScript(this.script);
    if (!script) {
      this.broken = true; // an unbuilt checkout: seal in-thread
      return [];
    }
    this.workers = [];
    for (let i = 0; i < this.threads; i++) {
      const w = new Worker(script, { execArgv: [] });
      w.unref();
      w.on('message', (m: { id: number; results: (Sealed | { error: string })[] }) => {
        const part = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (this.waiting.size === 0) for (const x of this.workers ?? []) x.unref();
        part?.forEach((p, i) => {
          const r = m.results[i];
          if (r && 'enc' in r) p.resolve({ enc: new Uint8Array(r.enc), ct: new Uint8Array(r.ct) });
          else p.reject(new Error(r?.error ?? 'HPKE seal: no answer from the worker'));
        });
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', () => this.fail(new Error('HPKE: a seal worker thread exited')));
      this.workers.push(w);
    }
    return this.workers;
  }

  /** A worker died: what it held is sealed in-thread instead (nothing is lost), and later batches stay in-thread. */
  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    const workers = this.workers ?? [];
    this.workers = undefined;
    for (const w of workers) void w.terminate();
    const held = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const p of held) sealHere(p, err);
  }
}

const pool = new SealPool('hpke-seal-worker.node.js');
const hybridPool = new SealPool('hpke-seal-worker-hybrid.node.js');

/** RFC 9180 single-shot seal (X25519), batched with the other seals of this turn (see the top of this file). */
export function pooledSeal(key: HpkeKey, info: Uint8Array, aad: Uint8Array, pt: Uint8Array): Promise<Sealed> {
  return pool.seal(key.pub, info, aad, pt, () => seal(key, info, aad, pt));
}

/** The same for an X-Wing seal (pq-hybrid suite): `here` makes it in this thread (hpke-xwing.node.ts). */
export function pooledHybridSeal(pub: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, here: () => Promise<Sealed>): Promise<Sealed> {
  return hybridPool.seal(pub, info, aad, pt, here);
}

/** How many seals were made in this thread and on workers since the process started (for tests and benchmarks). */
export function sealPoolCounts(): { inThread: number; inWorkers: number } {
  return { inThread: pool.counts.inThread + hybridPool.counts.inThread, inWorkers: pool.counts.inWorkers + hybridPool.counts.inWorkers };
}
