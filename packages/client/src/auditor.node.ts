// A key-transparency auditor: an independent party that replays every epoch of a server's log from the public
// feed, rebuilds the prefix tree and the log tree itself, and checks that each published root and signed head is
// exactly what the insertions produce — no entry changed, dropped or inserted twice, every head consistent with
// the ones before. It co-signs the heads it verified, so clients (and people comparing safety numbers) can check
// a head against an auditor's. State lives in a data folder: its own signing key and the heads it signed.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import {
  LogTree,
  PrefixTree,
  SealpostError,
  bytesEqual,
  encodeEpochLeaf,
  fromBase64Url,
  leafHash,
  signAuditedHead,
  toBase64Url,
  verifyTreeHead,
} from '@sealpost/protocol';
import { nodeCiphersuite, sha256Native } from '@sealpost/crypto';
import { HttpApi } from './http-api.js';

export interface AuditedHead {
  size: number;
  root: string;
  timestamp: number;
  /** The auditor's signature over the head (label "Sealpost v1 kt-auditor-head"). */
  auditorSignature: string;
}

interface FeedEpoch {
  epoch: number;
  timestamp: number;
  prefixRoot: string;
  logRoot: string;
  signature: string;
  updates: [string, string][];
}

export type AuditOutcome = { kind: 'ok'; epochs: number; head: AuditedHead | undefined } | { kind: 'failed'; epoch: number; reason: string };

const b = (s: string, where: string): Uint8Array => {
  const v = fromBase64Url(s);
  if (!v) throw new SealpostError('PROTOCOL_ERROR', `${where}: not base64url`);
  return v;
};

export class KtAuditor {
  private readonly cs = nodeCiphersuite();
  private tree = new PrefixTree(sha256Native);
  private log = new LogTree();
  private readonly signed = new Map<number, AuditedHead>();
  private readonly api: HttpApi;
  private keys: { publicKey: Uint8Array; privateKey: Uint8Array };
  private serverKey: Uint8Array | undefined;

  constructor(
    readonly server: string,
    readonly dataDir: string,
  ) {
    this.api = new HttpApi(server);
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const state = join(dir, 'auditor.json');
    if (existsSync(state)) {
      const s = JSON.parse(readFileSync(state, 'utf8')) as { server: string; publicKey: string; privateKey: string; serverKtKey: string };
      if (s.server !== server) throw new SealpostError('CONFIG_INVALID', `${dir} audits ${s.server}, not ${server}`);
      this.keys = { publicKey: b(s.publicKey, 'auditor.json'), privateKey: b(s.privateKey, 'auditor.json') };
      this.serverKey = b(s.serverKtKey, 'auditor.json');
    } else {
      this.keys = { publicKey: new Uint8Array(0), privateKey: new Uint8Array(0) };
    }
    const heads = join(dir, 'heads.jsonl');
    if (existsSync(heads)) {
      for (const line of readFileSync(heads, 'utf8').split('\n')) if (line) {
        const h = JSON.parse(line) as AuditedHead;
        this.signed.set(h.size, h);
      }
    }
  }

  get publicKey(): string {
    return toBase64Url(this.keys.publicKey);
  }

  private async init(): Promise<void> {
    if (this.serverKey) return;
    const info = await this.api.request<{ kt?: { signatureKey: string } }>('GET', '/v1/info', undefined, 'none');
    if (!info.kt) throw new SealpostError('PROTOCOL_ERROR', 'the server publishes no key-transparency keys');
    const kp = await this.cs.signature.keygen();
    this.keys = { publicKey: kp.publicKey, privateKey: kp.signKey };
    this.serverKey = b(info.kt.signatureKey, 'kt.signatureKey');
    writeFileSync(
      join(resolve(this.dataDir), 'auditor.json'),
      JSON.stringify({ server: this.server, publicKey: toBase64Url(kp.publicKey), privateKey: toBase64Url(kp.signKey), serverKtKey: info.kt.signatureKey }),
      { mode: 0o600 },
    );
  }

  /**
   * Replay the log: from epoch 0 on the first call (the auditor trusts nothing it did not rebuild itself), then
   * from where the previous call stopped.
   */
  async replay(onProgress?: (epoch: number) => void): Promise<AuditOutcome> {
    await this.init();
    let last: AuditedHead | undefined = this.head(this.log.size);
    for (let after = this.log.size - 1, page = 0; page < 10_000_000; page++) {
      const { epochs } = await this.api.request<{ epochs: FeedEpoch[] }>('GET', `/v1/kt/audit?after=${after}&limit=100`, undefined, 'none');
      if (epochs.length === 0) break;
      for (const e of epochs) {
        const failure = await this.check(e);
        if (failure) return { kind: 'failed', epoch: e.epoch, reason: failure };
        last = this.signed.get(e.epoch + 1);
        after = e.epoch;
      }
      onProgress?.(after);
    }
    return { kind: 'ok', epochs: this.log.size, head: last };
  }

  private async check(e: FeedEpoch): Promise<string | undefined> {
    if (e.epoch !== this.log.size) return `epoch ${e.epoch} where ${this.log.size} was expected (an epoch is missing or repeated)`;
    for (const [index, commitment] of e.updates) {
      try {
        this.tree.insert(b(index, 'index'), b(commitment, 'commitment'));
      } catch (err) {
        return `entry ${index} is inserted twice (${(err as Error).message})`;
      }
    }
    const prefixRoot = this.tree.root();
    if (!bytesEqual(prefixRoot, b(e.prefixRoot, 'prefixRoot'))) return 'the published prefix root is not what its insertions give (an entry was changed, dropped or added)';
    this.log.append(leafHash(encodeEpochLeaf({ epoch: e.epoch, timestamp: e.timestamp, prefixRoot })));
    const root = this.log.root();
    if (!bytesEqual(root, b(e.logRoot, 'logRoot'))) return 'the published log root does not match';
    const head = { size: this.log.size, root, timestamp: e.timestamp, signature: b(e.signature, 'signature') };
    if (!(await verifyTreeHead(this.cs.signature, this.serverKey!, head))) return 'the tree head signature does not verify with the server key this auditor pinned';
    const before = this.signed.get(head.size);
    if (before && before.root !== toBase64Url(root)) return `the log was rewritten: head ${head.size} differs from the one this auditor signed before`;
    if (!before) {
      const auditorSignature = await signAuditedHead(this.cs.signature, this.keys.privateKey, head);
      const rec: AuditedHead = { size: head.size, root: toBase64Url(root), timestamp: head.timestamp, auditorSignature: toBase64Url(auditorSignature) };
      this.signed.set(head.size, rec);
      appendFileSync(join(resolve(this.dataDir), 'heads.jsonl'), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    }
    return undefined;
  }

  /** Serve the signed heads over HTTP: GET /heads/latest and /heads/SIZE. Returns the base URL and a closer. */
  async serve(host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
    const server = createServer((req, res) => {
      const m = /^\/heads\/(latest|\d{1,15})$/.exec(req.url ?? '');
      const head = m ? this.head(m[1] === 'latest' ? undefined : Number(m[1])) : undefined;
      res.writeHead(head ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(head ? { ...head, auditorKey: this.publicKey } : { error: { code: 'INVALID_INPUT', message: 'no such head' } }));
    });
    await new Promise<void>((r) => server.listen(port, host, r));
    const addr = server.address();
    const p = typeof addr === 'object' && addr ? addr.port : port;
    return { url: `http://${host.includes(':') ? `[${host}]` : host}:${p}`, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  /** A head this auditor verified and signed (the latest, or one of a given size). */
  head(size?: number): AuditedHead | undefined {
    if (size !== undefined) return this.signed.get(size);
    let best: AuditedHead | undefined;
    for (const h of this.signed.values()) if (!best || h.size > best.size) best = h;
    return best;
  }
}
