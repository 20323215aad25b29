// VRF outputs and proofs on worker threads, one per core: the key-transparency log places each new version of an
// account record at the VRF output of (label, version), ~1 ms of curve arithmetic each, and every search answer
// carries VRF proofs (~5 ms each). A burst of thousands (a bulk enrollment, the first epoch after a restart) is
// split across the workers, searches go round robin, and the node's event loop keeps serving meanwhile. The workers
// start on first use and end when the pool is closed.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The compiled worker next to this module; when tests run the TypeScript sources, the built one in dist/. */
function workerScript(): URL | undefined {
  const built = new URL('./vrf-worker.js', import.meta.url);
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(built))) return built;
  const dist = new URL('../../dist/kt/vrf-worker.js', import.meta.url);
  return existsSync(fileURLToPath(dist)) ? dist : undefined;
}

export class VrfPool {
  private workers: Worker[] = [];
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown[]) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly secretKey: Uint8Array,
    private readonly threads = Math.min(Math.max(availableParallelism(), 1), 8),
  ) {}

  /** False when no worker script is available (an unbuilt checkout): callers compute in-thread. */
  get available(): boolean {
    return workerScript() !== undefined;
  }

  private start(): Worker[] {
    if (this.workers.length > 0) return this.workers;
    const script = workerScript();
    if (!script) throw new Error('kt: the VRF worker is not built');
    for (let i = 0; i < this.threads; i++) {
      // execArgv: none of the node's own flags (e.g. --input-type) apply to a compute worker.
      const w = new Worker(script, { workerData: { secretKey: this.secretKey }, execArgv: [] });
      w.on('message', (m: { id: number; results: unknown[] }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        p?.resolve(m.results);
        if (this.waiting.size === 0) for (const x of this.workers) x.unref();
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', () => {
        if (this.workers.includes(w)) this.fail(new Error('kt: a VRF worker thread exited'));
      });
      this.workers.push(w);
    }
    return this.workers;
  }

  private fail(err: Error): void {
    void this.close(err);
  }

  /** The first 32 bytes of the VRF output of each input, in order. */
  async indexes(alphas: Uint8Array[]): Promise<Uint8Array[]> {
    return (await this.run<Uint8Array>('indexes', alphas)).map((x) => new Uint8Array(x));
  }

  /** The VRF proof and output of each input, in order. */
  async proofs(alphas: Uint8Array[]): Promise<{ proof: Uint8Array; output: Uint8Array }[]> {
    return (await this.run<{ proof: Uint8Array; output: Uint8Array }>('proofs', alphas)).map((p) => ({ proof: new Uint8Array(p.proof), output: new Uint8Array(p.output) }));
  }

  private async run<T>(op: 'indexes' | 'proofs', alphas: Uint8Array[]): Promise<T[]> {
    const workers = this.start();
    // Referenced while they work (an awaited answer keeps the process alive), unreferenced when idle.
    for (const w of workers) w.ref();
    // Few inputs go to one worker (round robin), so concurrent searches use every core.
    const use = alphas.length < workers.length ? [workers[this.next % workers.length]!] : workers;
    const per = Math.ceil(alphas.length / use.length);
    const parts = use.map((w, i) => {
      const slice = alphas.slice(i * per, (i + 1) * per);
      if (slice.length === 0) return Promise.resolve([] as T[]);
      const id = this.next++;
      return new Promise<T[]>((resolve, reject) => {
        this.waiting.set(id, { resolve: resolve as (v: unknown[]) => void, reject });
        w.postMessage({ id, op, alphas: slice });
      });
    });
    return (await Promise.all(parts)).flat();
  }

  /** Ends the workers; what they were computing is refused with `reason`. */
  async close(reason = new Error('kt: the VRF pool was closed')): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    for (const p of this.waiting.values()) p.reject(reason);
    this.waiting.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
