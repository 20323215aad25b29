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
  MAX_OBJECTION_BYTES,
  PrefixTree,
  SealpostError,
  bytesEqual,
  decodeAccountRecord,
  decodeMonitorResponse,
  decodeObjection,
  encodeEpochLeaf,
  fromBase64Url,
  leafHash,
  signAuditedHead,
  toBase64Url,
  verifyMonitor,
  verifyObjection,
  verifyTreeHead,
  type KtKeys,
  type Objection,
  type TreeHead,
  type UserId,
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

/** A head this auditor verified but would not co-sign: the log adopted a change its owner objected to. */
export interface RefusedHead {
  size: number;
  label: string;
  fromVersion: number;
  reason: string;
  at: string;
}

export type AuditOutcome =
  | { kind: 'ok'; epochs: number; head: AuditedHead | undefined; refused?: RefusedHead }
  | { kind: 'failed'; epoch: number; reason: string };

interface SignedObjectionJson {
  body: string;
  signature: string;
}

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
  private serverVrfKey: Uint8Array | undefined;
  /** Objections taken, by label (each verified when taken). */
  private readonly objections = new Map<string, { json: SignedObjectionJson; objection: Objection }[]>();
  private readonly refused = new Map<number, RefusedHead>();
  /** Heads verified in this round and not signed yet (they are signed once no objection stands against them). */
  private unsigned: TreeHead[] = [];

  constructor(
    readonly server: string,
    readonly dataDir: string,
  ) {
    this.api = new HttpApi(server);
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const state = join(dir, 'auditor.json');
    if (existsSync(state)) {
      const s = JSON.parse(readFileSync(state, 'utf8')) as { server: string; publicKey: string; privateKey: string; serverKtKey: string; serverVrfKey?: string };
      if (s.server !== server) throw new SealpostError('CONFIG_INVALID', `${dir} audits ${s.server}, not ${server}`);
      this.keys = { publicKey: b(s.publicKey, 'auditor.json'), privateKey: b(s.privateKey, 'auditor.json') };
      this.serverKey = b(s.serverKtKey, 'auditor.json');
      if (s.serverVrfKey) this.serverVrfKey = b(s.serverVrfKey, 'auditor.json');
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
    const objections = join(dir, 'objections.jsonl');
    if (existsSync(objections)) {
      for (const line of readFileSync(objections, 'utf8').split('\n')) if (line) {
        const json = JSON.parse(line) as SignedObjectionJson;
        const objection = decodeObjection(b(json.body, 'objections.jsonl'));
        this.objections.set(objection.label, [...(this.objections.get(objection.label) ?? []), { json, objection }]);
      }
    }
    const refused = join(dir, 'refused.jsonl');
    if (existsSync(refused)) {
      for (const line of readFileSync(refused, 'utf8').split('\n')) if (line) {
        const r = JSON.parse(line) as RefusedHead;
        this.refused.set(r.size, r);
      }
    }
  }

  get publicKey(): string {
    return toBase64Url(this.keys.publicKey);
  }

  private async init(): Promise<void> {
    if (this.serverKey && this.serverVrfKey) return;
    const info = await this.api.request<{ kt?: { signatureKey: string; vrfKey: string } }>('GET', '/v1/info', undefined, 'none');
    if (!info.kt) throw new SealpostError('PROTOCOL_ERROR', 'the server publishes no key-transparency keys');
    if (!this.serverKey) {
      const kp = await this.cs.signature.keygen();
      this.keys = { publicKey: kp.publicKey, privateKey: kp.signKey };
      this.serverKey = b(info.kt.signatureKey, 'kt.signatureKey');
    }
    // The VRF key (pinned from the first start on; an auditor.json from before has none yet) checks objections.
    this.serverVrfKey = b(info.kt.vrfKey, 'kt.vrfKey');
    writeFileSync(
      join(resolve(this.dataDir), 'auditor.json'),
      JSON.stringify({
        server: this.server,
        publicKey: toBase64Url(this.keys.publicKey),
        privateKey: toBase64Url(this.keys.privateKey),
        serverKtKey: toBase64Url(this.serverKey),
        serverVrfKey: info.kt.vrfKey,
      }),
      { mode: 0o600 },
    );
  }

  private get ktKeys(): KtKeys {
    return { signatureKey: this.serverKey!, vrfKey: this.serverVrfKey! };
  }

  /**
   * Replay the log: from epoch 0 on the first call (the auditor trusts nothing it did not rebuild itself), then
   * from where the previous call stopped.
   */
  async replay(onProgress?: (epoch: number) => void): Promise<AuditOutcome> {
    await this.init();
    this.unsigned = [];
    for (let after = this.log.size - 1, page = 0; page < 10_000_000; page++) {
      const { epochs } = await this.api.request<{ epochs: FeedEpoch[] }>('GET', `/v1/kt/audit?after=${after}&limit=100`, undefined, 'none');
      if (epochs.length === 0) break;
      for (const e of epochs) {
        const failure = await this.check(e);
        if (failure) return { kind: 'failed', epoch: e.epoch, reason: failure };
        after = e.epoch;
      }
      onProgress?.(after);
    }
    // Heads are co-signed only once no objection stands against what the log now holds.
    const refusal = this.unsigned.length > 0 ? await this.objectedChange() : undefined;
    if (refusal) {
      for (const h of this.unsigned) {
        const rec: RefusedHead = { size: h.size, ...refusal, at: new Date().toISOString() };
        this.refused.set(h.size, rec);
        appendFileSync(join(resolve(this.dataDir), 'refused.jsonl'), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
      }
    } else {
      for (const h of this.unsigned) await this.sign(h);
    }
    this.unsigned = [];
    return { kind: 'ok', epochs: this.log.size, head: this.head(), ...(refusal ? { refused: this.refused.get(this.log.size)! } : {}) };
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
    if (!before) this.unsigned.push(head);
    return undefined;
  }

  private async sign(head: TreeHead): Promise<void> {
    const auditorSignature = await signAuditedHead(this.cs.signature, this.keys.privateKey, head);
    const rec: AuditedHead = { size: head.size, root: toBase64Url(head.root), timestamp: head.timestamp, auditorSignature: toBase64Url(auditorSignature) };
    this.signed.set(head.size, rec);
    appendFileSync(join(resolve(this.dataDir), 'heads.jsonl'), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
  }

  /**
   * Every version of `label` from `from` on, proven against the server's current head, which must extend the log
   * this auditor rebuilt (a consistency proof from the auditor's head; the same root where the sizes are equal).
   */
  private async versionsOf(label: string, from: number): Promise<{ version: number; accountKey: Uint8Array }[]> {
    const out: { version: number; accountKey: Uint8Array }[] = [];
    const mine = { size: this.log.size, root: this.log.root() };
    for (let page = 0; page < 1000; page++) {
      const res = await this.api.request<{ proof: string }>('GET', `/v1/kt/monitor/${encodeURIComponent(label)}?from=${from}&since=${mine.size}`, undefined, 'none');
      const bytes = b(res.proof, 'monitor proof');
      const verdict = await verifyMonitor(this.cs.signature, this.ktKeys, label, from, decodeMonitorResponse(bytes), mine.size > 0 ? mine : undefined);
      if (verdict.kind !== 'ok') throw new SealpostError('KT_VERIFICATION_FAILED', `the server's monitor answer for ${label} does not verify: ${verdict.reason}`);
      if (verdict.head.size === mine.size && !bytesEqual(verdict.head.root, mine.root)) throw new SealpostError('KT_VERIFICATION_FAILED', `the server's head ${mine.size} is not the one this auditor rebuilt`);
      for (const v of verdict.versions) out.push({ version: v.version, accountKey: decodeAccountRecord(v.value).accountKey });
      if (verdict.complete || verdict.versions.length === 0) return out;
      from = verdict.versions[verdict.versions.length - 1]!.version + 1;
    }
    throw new SealpostError('KT_VERIFICATION_FAILED', `too many versions of ${label}`);
  }

  /**
   * The objected change the log has adopted, if any: a version, from the first one objected to on, carrying an
   * account key that is neither empty (a retirement adopts nothing) nor the objecting key. A server that will not
   * prove a label's versions gets no co-signature either.
   */
  private async objectedChange(): Promise<Omit<RefusedHead, 'size' | 'at'> | undefined> {
    for (const [label, list] of this.objections) {
      for (const { objection } of list) {
        let versions: { version: number; accountKey: Uint8Array }[];
        try {
          versions = await this.versionsOf(label, objection.fromVersion);
        } catch (err) {
          return { label, fromVersion: objection.fromVersion, reason: `the log's versions of ${label}, under objection, could not be checked: ${(err as Error).message}` };
        }
        const adopted = versions.find((v) => v.accountKey.length > 0 && !bytesEqual(v.accountKey, objection.accountKey));
        if (adopted) {
          return {
            label,
            fromVersion: objection.fromVersion,
            reason: `version ${adopted.version} of ${label} carries a new account key, and ${label}'s own account key objects to every version from ${objection.fromVersion} on`,
          };
        }
      }
    }
    return undefined;
  }

  /**
   * Take an objection: it must be signed by the key it names, and that key must be the label's account key in the
   * version just before the ones objected to (proven from the log), so nobody can object in another's name.
   */
  async takeObjection(json: SignedObjectionJson): Promise<Objection> {
    await this.init();
    const body = fromBase64Url(json.body);
    const signature = fromBase64Url(json.signature);
    if (!body || !signature || body.length > MAX_OBJECTION_BYTES || signature.length !== 64) throw new SealpostError('INVALID_INPUT', 'objection: body and signature must be base64url');
    let label: UserId;
    try {
      label = decodeObjection(body).label;
    } catch {
      throw new SealpostError('INVALID_INPUT', 'objection: not an objection');
    }
    const o = await verifyObjection(this.cs.signature, { body, signature }, label);
    if (!o) throw new SealpostError('INVALID_INPUT', 'objection: the signature does not verify under the key it names');
    const known = this.objections.get(label) ?? [];
    if (known.some((k) => k.objection.fromVersion === o.fromVersion && bytesEqual(k.objection.accountKey, o.accountKey))) return o;
    if (known.length >= 16) throw new SealpostError('INVALID_INPUT', `objection: this auditor already holds 16 objections for ${label}`);
    if (o.fromVersion < 2) throw new SealpostError('INVALID_INPUT', 'objection: nothing comes before version 1 to object with');
    const before = (await this.versionsOf(label, o.fromVersion - 1))[0];
    if (!before || before.version !== o.fromVersion - 1 || !bytesEqual(before.accountKey, o.accountKey)) {
      throw new SealpostError('INVALID_INPUT', `objection: ${label}'s account key at version ${o.fromVersion - 1} is not the key that signs it`);
    }
    this.objections.set(label, [...known, { json: { body: json.body, signature: json.signature }, objection: o }]);
    appendFileSync(join(resolve(this.dataDir), 'objections.jsonl'), `${JSON.stringify({ body: json.body, signature: json.signature })}\n`, { mode: 0o600 });
    return o;
  }

  /**
   * The auditor's operator lets go of every objection for `label`, after settling it with the person (a stolen old
   * device objecting to a real reset): later heads are co-signed again. Heads refused before stay refused.
   */
  releaseObjections(label: string): number {
    const n = this.objections.get(label)?.length ?? 0;
    this.objections.delete(label);
    const lines = [...this.objections.values()].flat().map((o) => `${JSON.stringify(o.json)}\n`).join('');
    writeFileSync(join(resolve(this.dataDir), 'objections.jsonl'), lines, { mode: 0o600 });
    return n;
  }

  /** Objections this auditor holds for `label`, as they were signed. */
  objectionsFor(label: string): SignedObjectionJson[] {
    return (this.objections.get(label) ?? []).map((o) => o.json);
  }

  /**
   * Serve over HTTP: GET /heads/latest and /heads/SIZE (a head it refused answers 409 with the reason), POST
   * /objections (an owner's signed objection, 4 KiB at most), GET /objections/LABEL. Returns the base URL and a closer.
   */
  async serve(host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
    const send = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const server = createServer((req, res) => {
      const url = req.url ?? '';
      const heads = /^\/heads\/(latest|\d{1,15})$/.exec(url);
      const objections = /^\/objections\/([^/?]{1,400})$/.exec(url);
      if (req.method === 'GET' && heads) {
        const size = heads[1] === 'latest' ? undefined : Number(heads[1]);
        const head = this.head(size);
        const refused = size !== undefined ? this.refused.get(size) : undefined;
        if (head) return send(res, 200, { ...head, auditorKey: this.publicKey });
        if (refused) return send(res, 409, { error: { code: 'KT_VERIFICATION_FAILED', message: `this auditor refuses to co-sign head ${refused.size}: ${refused.reason}` } });
        return send(res, 404, { error: { code: 'INVALID_INPUT', message: 'no such head' } });
      }
      if (req.method === 'GET' && objections) {
        let label: string;
        try {
          label = decodeURIComponent(objections[1]!);
        } catch {
          return send(res, 400, { error: { code: 'INVALID_INPUT', message: 'label: not URL-encoded' } });
        }
        return send(res, 200, { objections: this.objectionsFor(label) });
      }
      if (req.method === 'POST' && url === '/objections') {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 4096) {
            send(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'an objection is at most 4096 bytes' } });
            req.destroy();
          } else chunks.push(c);
        });
        req.on('end', () => {
          if (size > 4096) return;
          void (async () => {
            let json: SignedObjectionJson;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SignedObjectionJson;
              if (typeof json?.body !== 'string' || typeof json.signature !== 'string') throw new Error('shape');
            } catch {
              return send(res, 400, { error: { code: 'INVALID_INPUT', message: 'expected {"body","signature"} (base64url)' } });
            }
            try {
              const o = await this.takeObjection(json);
              send(res, 200, { label: o.label, fromVersion: o.fromVersion, stored: true });
            } catch (err) {
              const code = err instanceof SealpostError ? err.code : 'INTERNAL';
              send(res, code === 'INVALID_INPUT' ? 400 : 503, { error: { code, message: (err as Error).message } });
            }
          })();
        });
        return;
      }
      send(res, 404, { error: { code: 'INVALID_INPUT', message: 'no such route' } });
    });
    server.requestTimeout = 30_000;
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
