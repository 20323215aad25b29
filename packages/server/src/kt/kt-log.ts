// The key-transparency log as a server node keeps it: the prefix tree and log tree in memory, rebuilt from the
// store on start (and checked against every stored epoch while doing so), extended by publishing epochs of the
// account records that changed. One node publishes an epoch at a time (the store refuses a second epoch with the
// same number); the others catch up from the store before answering.
import { randomBytes } from 'node:crypto';
import {
  SealpostError,
  LogTree,
  PrefixTree,
  bytesEqual,
  commitment,
  deviceListHash,
  encodeAccountRecord,
  encodeEpochLeaf,
  leafHash,
  legalHoldHash,
  retiredRecord,
  decodeAccountRecord,
  signTreeHead,
  vrfInput,
  vrfOutputFunction,
  vrfProve,
  MAX_MONITOR_VERSIONS,
  type EpochLeaf,
  type MonitorResponse,
  type VersionProof,
  type SearchResponse,
  type SignatureKeyPair,
  type TreeHead,
} from '@sealpost/protocol';
import type { Logger } from 'pino';
import { sha256Native, x25519WithScalar } from '@sealpost/crypto';
import type { CiphersuiteImpl } from 'ts-mls';
import type { Clock } from '../clock.js';
import type { KtPending, KtUpdateRecord, ServerStore } from '../store/store.js';
import { VrfPool } from './vrf-pool.js';

type KtPendingUser = KtPending['user'];

/** The stored log does not rebuild: rows were changed or removed outside this server (or restored out of order). */
const tampered = (what: string) =>
  new SealpostError('STORE_TAMPERED', `the key-transparency log in the database does not check out (${what}): it was changed outside this server, or restored in part; restore a whole backup`);

export interface KtKeysPrivate {
  /** Signs tree heads. */
  signing: SignatureKeyPair;
  /** ECVRF secret key (32 bytes) and its public key. */
  vrf: { secretKey: Uint8Array; publicKey: Uint8Array };
}

/** Most account records published in one epoch; more wait for the next. */
const MAX_UPDATES_PER_EPOCH = 50_000;
/** From this many indexes to compute at once, the worker threads do it. */
const POOL_THRESHOLD = 64;
/** An update's index before computeIndexes fills it in. */
const EMPTY_INDEX = new Uint8Array(0);

export class KtLog {
  private tree = new PrefixTree(sha256Native);
  private log = new LogTree();
  private epochs: EpochLeaf[] = [];
  private head: TreeHead | undefined;
  private readonly latest = new Map<string, { version: number; value: Uint8Array; opening: Uint8Array }>();
  private busy: Promise<unknown> = Promise.resolve();
  private lastPublish = 0;
  /** A label version's VRF output, its secret multiplication in native X25519 (4–7× faster than pure JS here). */
  private readonly vrfOutput: (alpha: Uint8Array) => Uint8Array;
  private readonly pool: VrfPool;

  constructor(
    private readonly store: ServerStore,
    private readonly cs: CiphersuiteImpl,
    readonly keys: KtKeysPrivate,
    private readonly clock: Clock,
    private readonly log_: Logger,
  ) {
    this.vrfOutput = vrfOutputFunction(keys.vrf.secretKey, x25519WithScalar);
    this.pool = new VrfPool(keys.vrf.secretKey);
  }

  /** One operation at a time: searches never see a half-published epoch. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => {});
    return run;
  }

  get treeHead(): TreeHead | undefined {
    return this.head;
  }

  /** Load epochs published since (by this node before a restart, or by other nodes), checking each one. */
  catchUp(): Promise<void> {
    return this.exclusive(() => this.catchUpInner());
  }

  private async catchUpInner(): Promise<void> {
    for (let page = 0; page < 1_000_000; page++) {
      const epochs = await this.store.ktEpochs(this.epochs.length - 1, 500);
      if (epochs.length === 0) return;
      for (const e of epochs) {
        if (e.epoch !== this.epochs.length) throw tampered(`epoch ${e.epoch} follows ${this.epochs.length - 1}`);
        for (const u of e.updates) this.apply(u);
        const prefixRoot = this.tree.root();
        if (!bytesEqual(prefixRoot, e.prefixRoot)) throw tampered(`epoch ${e.epoch}: the stored prefix root does not match the stored updates`);
        const leaf = { epoch: e.epoch, timestamp: e.timestamp, prefixRoot };
        this.epochs.push(leaf);
        this.log.append(leafHash(encodeEpochLeaf(leaf)));
        const root = this.log.root();
        if (!bytesEqual(root, e.logRoot)) throw tampered(`epoch ${e.epoch}: the stored log root does not match`);
        this.head = { size: this.log.size, root, timestamp: e.timestamp, signature: e.signature };
      }
    }
  }

  private apply(u: KtUpdateRecord): void {
    const prev = this.latest.get(u.label);
    if (u.version !== (prev?.version ?? 0) + 1) throw tampered(`${u.label} version ${u.version} does not follow ${prev?.version ?? 0}`);
    this.tree.insert(u.index, commitment(u.opening, u.label, u.version, u.value));
    this.latest.set(u.label, { version: u.version, value: u.value, opening: u.opening });
  }

  /**
   * Publish one epoch with every pending account record (at most MAX_UPDATES_PER_EPOCH). Returns the number of
   * records published. An empty log gets a first (empty) epoch so that there is always a signed head.
   */
  publish(): Promise<number> {
    return this.exclusive(async () => {
      await this.catchUpInner();
      const pending = await this.store.ktPending(MAX_UPDATES_PER_EPOCH);
      if (pending.length === 0 && this.head) return 0;
      const updates: KtUpdateRecord[] = [];
      for (const p of pending) {
        const record = {
          ...(p.list ? { accountKey: p.list.accountKey, deviceListVersion: p.list.version, deviceListHash: deviceListHash(p.list.body) } : retiredRecord()),
          // A legal hold (or its release) is in the record, so every client sees it and can check it (legal-hold.ts).
          ...(p.hold ? { holdHash: legalHoldHash(p.hold) } : {}),
        };
        const value = encodeAccountRecord(record);
        const prev = this.latest.get(p.user);
        if (prev && bytesEqual(prev.value, value)) continue; // nothing changed (e.g. a repeated mark)
        if (!prev && !p.list) continue; // a label that never had a record needs no retirement
        // A new account key only ever follows a retirement (an admin reset publishes one at once). Anything else is
        // a device list this server's own code did not write — an edited database — and is never published.
        const before = prev ? decodeAccountRecord(prev.value).accountKey : undefined;
        if (p.list && before && before.length > 0 && !bytesEqual(before, p.list.accountKey)) {
          this.log_.error({ user: p.user }, 'kt: refusing to publish a new account key that follows no reset: the stored device list was not written by this server (the database was edited?)');
          continue;
        }
        const version = (prev?.version ?? 0) + 1;
        updates.push({ label: p.user, version, value, opening: new Uint8Array(randomBytes(16)), index: EMPTY_INDEX });
      }
      await this.computeIndexes(updates);
      // Built in place under a checkpoint: undone exactly if the store does not take it.
      this.tree.checkpoint();
      const logSize = this.log.size;
      const previous = new Map(updates.map((u) => [u.label, this.latest.get(u.label)]));
      const undo = () => {
        this.tree.rollback();
        this.log.truncate(logSize);
        for (const [label, prev] of previous) {
          if (prev) this.latest.set(label, prev);
          else this.latest.delete(label);
        }
      };
      try {
        const n = await this.publishUpdates(updates, pending);
        if (n === undefined) {
          undo();
          this.log_.info({ epoch: this.epochs.length }, 'kt: another node published this epoch first; following it');
          await this.catchUpInner();
          return 0;
        }
        this.tree.commit();
        return n;
      } catch (err) {
        undo();
        throw err;
      }
    });
  }

  /** The number of records published, or undefined when another node stored this epoch first. */
  private async publishUpdates(updates: KtUpdateRecord[], pending: { user: string; seq: number }[]): Promise<number | undefined> {
    {
      for (const u of updates) this.apply(u);
      const prefixRoot = this.tree.root();
      const leaf: EpochLeaf = { epoch: this.epochs.length, timestamp: this.clock.now(), prefixRoot };
      this.log.append(leafHash(encodeEpochLeaf(leaf)));
      const root = this.log.root();
      const head = await signTreeHead(this.cs.signature, this.keys.signing.privateKey, { size: this.log.size, root, timestamp: leaf.timestamp });
      const stored = await this.store.ktPublish(
        { epoch: leaf.epoch, timestamp: leaf.timestamp, prefixRoot, logRoot: root, signature: head.signature },
        updates,
        pending.map((p) => ({ user: p.user as KtPendingUser, seq: p.seq })),
      );
      if (!stored) return undefined;
      this.epochs.push(leaf);
      this.head = head;
      this.lastPublish = this.clock.now();
      this.computeAhead(updates.map((u) => ({ label: u.label, version: u.version + 1 })));
      return updates.length;
    }
  }

  /**
   * The VRF output of each label's next version, computed right after each epoch — on the worker threads for
   * many labels, else here in 20 ms slices — and remembered in the store, so the next epoch that changes these
   * labels does not pay for them, on any node, even after a restart (and a million labels cost no memory here).
   */
  private computeAhead(items: { label: string; version: number }[]): void {
    const remember = (indexes: Uint8Array[]) => this.store.ktPutNextIndexes(items.map((i, k) => ({ label: i.label, version: i.version, index: indexes[k]! })));
    const warn = (err: Error) => this.log_.warn({ err: err.message }, 'kt: indexes not computed ahead; the next epoch computes them');
    if (items.length >= POOL_THRESHOLD && this.pool.available) {
      this.pool.indexes(items.map((i) => vrfInput(i.label, i.version))).then(remember).catch(warn);
      return;
    }
    // A few: here, in 20 ms slices between other work.
    const indexes: Uint8Array[] = [];
    const slice = () => {
      const until = performance.now() + 20;
      while (indexes.length < items.length && performance.now() < until) {
        const { label, version } = items[indexes.length]!;
        indexes.push(this.vrfOutput(vrfInput(label, version)).slice(0, 32));
      }
      if (indexes.length < items.length) setImmediate(slice);
      else remember(indexes).catch(warn);
    };
    setImmediate(slice);
  }

  /** A new user's first index, ahead of enrollment (called when an admin adds the user). */
  prepare(label: string): void {
    if (!this.latest.has(label)) this.computeAhead([{ label, version: 1 }]);
  }

  /**
   * Each update's index: as computed ahead and remembered in the store (by any node), else now — on the worker
   * threads when there are many (the event loop stays free and every core works), else here.
   */
  private async computeIndexes(updates: KtUpdateRecord[]): Promise<void> {
    if (updates.length === 0) return;
    const remembered = new Map((await this.store.ktNextIndexes(updates.map((u) => u.label))).map((r) => [r.label, r]));
    const rest: KtUpdateRecord[] = [];
    for (const u of updates) {
      const r = remembered.get(u.label);
      if (r?.version === u.version) u.index = r.index;
      else rest.push(u);
    }
    const alphas = rest.map((u) => vrfInput(u.label, u.version));
    const indexes = rest.length >= POOL_THRESHOLD && this.pool.available ? await this.pool.indexes(alphas) : alphas.map((a) => this.vrfOutput(a).slice(0, 32));
    rest.forEach((u, i) => (u.index = indexes[i]!));
  }

  /** Ends the VRF worker threads (if any started). */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** VRF proofs (about 5 ms each) are deterministic: keep recent ones, bounded. */
  private readonly proofs = new Map<string, { proof: Uint8Array; output: Uint8Array }>();
  private proveCached(label: string, version: number): { proof: Uint8Array; output: Uint8Array } {
    const key = `${version}:${label}`;
    let p = this.proofs.get(key);
    if (!p) {
      // Not prefetched (the label changed meanwhile, or no worker is built): computed here.
      p = vrfProve(this.keys.vrf.secretKey, vrfInput(label, version));
      this.rememberProof(key, p);
    }
    return p;
  }


  /** Publish now if `label` waits for an epoch and the last epoch is at least `minGapMs` old. */
  async publishIfPending(label: string, minGapMs: number): Promise<void> {
    if ((await this.store.ktPending(1, label as KtPendingUser)).length === 0) return;
    const wait = this.lastPublish + minGapMs - this.clock.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await this.publish();
  }

  /**
   * VRF proofs a search of `label` needs (its latest version and the next, and `extra` versions), computed on the
   * worker threads before the answer is built, so the event loop does not spend ~5 ms on each.
   */
  private async prefetchProofs(label: string, extra: number[] = []): Promise<void> {
    if (!this.pool.available) return;
    const version = this.latest.get(label)?.version ?? 0;
    const wanted = [...new Set([...(version > 0 ? [version] : []), version + 1, ...extra])].filter((v) => !this.proofs.has(`${v}:${label}`));
    if (wanted.length === 0) return;
    const proofs = await this.pool.proofs(wanted.map((v) => vrfInput(label, v)));
    wanted.forEach((v, i) => this.rememberProof(`${v}:${label}`, proofs[i]!));
  }

  private rememberProof(key: string, p: { proof: Uint8Array; output: Uint8Array }): void {
    if (this.proofs.size >= 100_000) this.proofs.delete(this.proofs.keys().next().value!);
    this.proofs.set(key, p);
  }

  /** The search answer for `label` against the newest head, with a consistency proof from size `since`. */
  async search(label: string, since: number | undefined): Promise<SearchResponse> {
    await this.prefetchProofs(label);
    return this.exclusive(async () => {
      await this.catchUpInner();
      return this.searchInner(label, since);
    });
  }

  /**
   * The monitor answer for `label`: the search answer, plus proofs for each version from `from` below the latest
   * (at most MAX_MONITOR_VERSIONS), all against the newest head.
   */
  async monitor(label: string, from: number, since: number | undefined): Promise<MonitorResponse> {
    const latest = this.latest.get(label)?.version ?? 0;
    const earlier = Array.from({ length: Math.max(0, Math.min(latest - from, MAX_MONITOR_VERSIONS)) }, (_, i) => from + i);
    await this.prefetchProofs(label, earlier);
    return this.exclusive(async () => {
      await this.catchUpInner();
      const search = this.searchInner(label, since);
      const count = Math.min(search.version - from, MAX_MONITOR_VERSIONS);
      const rows = count > 0 ? await this.store.ktVersions(label, from, count) : [];
      const earlier = rows.map((u): VersionProof => {
        const p = this.proveCached(label, u.version);
        return { version: u.version, value: u.value, opening: u.opening, vrfProof: p.proof, prefixProof: this.tree.prove(p.output.subarray(0, 32)) };
      });
      return { from, earlier, search };
    });
  }

  private searchInner(label: string, since: number | undefined): SearchResponse {
    {
      if (!this.head) throw new Error('kt: no epoch published yet');
      const size = this.head.size;
      const cur = this.latest.get(label);
      const version = cur?.version ?? 0;
      const at = (v: number) => this.proveCached(label, v);
      const present = version > 0 ? at(version) : undefined;
      const next = at(version + 1);
      return {
        label,
        version,
        value: cur?.value,
        opening: cur?.opening,
        vrfProof: present?.proof,
        prefixProof: present ? this.tree.prove(present.output.subarray(0, 32)) : undefined,
        nextVrfProof: next.proof,
        nextPrefixProof: this.tree.prove(next.output.subarray(0, 32)),
        epoch: this.epochs[size - 1]!,
        logProof: this.log.inclusionProof(size - 1),
        head: this.head,
        consistency: since !== undefined && since > 0 && since < size ? this.log.consistencyProof(since) : [],
      };
    }
  }
}
