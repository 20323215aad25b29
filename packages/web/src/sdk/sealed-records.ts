// The browser profile at rest: one IndexedDB database per profile, every record AES-256-GCM encrypted under a key
// that never leaves WebCrypto. A random master key (HKDF) is kept as a non-extractable CryptoKey in the database, or,
// when a passphrase protects the profile, wrapped (AES-KW) under a key derived from the passphrase (PBKDF2-SHA-256)
// and unwrapped as non-extractable at unlock. Record ids are an HMAC of the table and row key, so even which users,
// conversations or messages a profile holds is not readable from IndexedDB.
import { openDB, deleteDB, type IDBPDatabase } from 'idb';
import { SealpostError, decodeCbor, encodeCbor, utf8 } from '@sealpost/protocol';
import { bs } from './buffer-source.js';

/** PBKDF2-SHA-256 iterations for a passphrase (OWASP's 2023 figure): about half a second in a browser. */
export const PBKDF2_ITERATIONS = 600_000;
/** One record, decrypted (a large group's state can be megabytes). */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;
const IV_BYTES = 12;

type KeyRecord =
  | { kind: 'device'; master: CryptoKey }
  | { kind: 'passphrase'; salt: Uint8Array; iterations: number; wrapped: Uint8Array };

export interface Change {
  table: string;
  key: string;
  /** undefined: delete the row. */
  value: unknown;
}

interface Keys {
  aes: CryptoKey;
  mac: CryptoKey;
}

const subtle = () => globalThis.crypto.subtle;

export function databaseName(profile: string): string {
  return `sealpost:${profile}`;
}

export class SealedRecords {
  private readonly ids = new Map<string, string>();

  private constructor(
    private readonly db: IDBPDatabase,
    private keys: Keys,
    /** A passphrase protects the master key. */
    public passphraseProtected: boolean,
  ) {}

  /** Whether a profile with this name exists (it has a key record). */
  static async exists(profile: string): Promise<boolean> {
    const db = await openDB(databaseName(profile), 1, { upgrade: createStores });
    try {
      return (await db.get('keys', 'master')) !== undefined;
    } finally {
      db.close();
    }
  }

  static async open(profile: string, opts: { create: boolean; passphrase?: string }): Promise<{ records: SealedRecords; rows: Change[] }> {
    const db = await openDB(databaseName(profile), 1, { upgrade: createStores });
    try {
      const stored = (await db.get('keys', 'master')) as KeyRecord | undefined;
      if (opts.create && stored) throw new SealpostError('PROFILE_EXISTS', `a Sealpost profile "${profile}" already exists in this browser`);
      if (!opts.create && !stored) throw new SealpostError('NOT_ENROLLED', `no Sealpost profile "${profile}" in this browser; enroll first`);
      let record = stored;
      let master: CryptoKey;
      if (!record) {
        const made = await newMaster(opts.passphrase);
        record = made.record;
        master = made.master;
        await db.put('keys', record, 'master');
      } else if (record.kind === 'device') {
        master = record.master;
      } else {
        if (!opts.passphrase) throw new SealpostError('PASSPHRASE_REQUIRED', 'this browser profile is protected by a passphrase; enter it');
        master = await unwrapMaster(record, opts.passphrase);
      }
      const records = new SealedRecords(db, await deriveKeys(master), record.kind === 'passphrase');
      return { records, rows: await records.readAll() };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  static async erase(profile: string): Promise<void> {
    await deleteDB(databaseName(profile));
  }

  close(): void {
    this.db.close();
  }

  /** Write changes in one IndexedDB transaction: all of them are stored, or none. */
  async write(changes: Change[]): Promise<void> {
    if (changes.length === 0) return;
    // Encrypt first: an IndexedDB transaction commits by itself when it waits on anything else.
    const sealed: { id: string; data: Uint8Array | undefined }[] = [];
    for (const c of changes) {
      sealed.push({ id: await this.recordId(c.table, c.key), data: c.value === undefined ? undefined : await this.seal(c) });
    }
    const tx = this.db.transaction('records', 'readwrite', { durability: 'strict' });
    for (const s of sealed) {
      if (s.data) void tx.store.put(s.data, s.id);
      else void tx.store.delete(s.id);
    }
    await tx.done;
  }

  /** Re-encrypt every row under a new master key, protected by `passphrase` or by this browser alone. */
  async rekey(rows: Change[], passphrase: string | undefined): Promise<void> {
    const made = await newMaster(passphrase);
    const next = new SealedRecords(this.db, await deriveKeys(made.master), made.record.kind === 'passphrase');
    const sealed: { id: string; data: Uint8Array }[] = [];
    for (const c of rows) sealed.push({ id: await next.recordId(c.table, c.key), data: await next.seal(c) });
    const tx = this.db.transaction(['records', 'keys'], 'readwrite', { durability: 'strict' });
    void tx.objectStore('records').clear();
    for (const s of sealed) void tx.objectStore('records').put(s.data, s.id);
    void tx.objectStore('keys').put(made.record, 'master');
    await tx.done;
    this.keys = next.keys;
    this.ids.clear();
    this.passphraseProtected = made.record.kind === 'passphrase';
  }

  private async readAll(): Promise<Change[]> {
    const out: Change[] = [];
    const values = (await this.db.getAll('records')) as Uint8Array[];
    for (const v of values) {
      const bytes = v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer);
      if (bytes.length < IV_BYTES + 16) throw new SealpostError('STORE_TAMPERED', 'a record of this browser profile is damaged');
      let plain: ArrayBuffer;
      try {
        plain = await subtle().decrypt({ name: 'AES-GCM', iv: bs(bytes.subarray(0, IV_BYTES)) }, this.keys.aes, bs(bytes.subarray(IV_BYTES)));
      } catch {
        throw new SealpostError('STORE_TAMPERED', 'a record of this browser profile failed authentication (altered, or from another profile)');
      }
      const [table, key, value] = decodeCbor(new Uint8Array(plain), MAX_RECORD_BYTES, 'profile record') as [string, string, unknown];
      out.push({ table, key, value });
    }
    return out;
  }

  private async seal(c: Change): Promise<Uint8Array> {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv }, this.keys.aes, bs(encodeCbor([c.table, c.key, c.value]))));
    const out = new Uint8Array(IV_BYTES + ct.length);
    out.set(iv);
    out.set(ct, IV_BYTES);
    return out;
  }

  private async recordId(table: string, key: string): Promise<string> {
    const name = `${table}\u0000${key}`;
    let id = this.ids.get(name);
    if (!id) {
      const mac = new Uint8Array(await subtle().sign('HMAC', this.keys.mac, bs(utf8(name))));
      id = Array.from(mac.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
      this.ids.set(name, id);
    }
    return id;
  }
}

function createStores(db: IDBPDatabase): void {
  if (!db.objectStoreNames.contains('records')) db.createObjectStore('records');
  if (!db.objectStoreNames.contains('keys')) db.createObjectStore('keys');
}

async function newMaster(passphrase: string | undefined): Promise<{ master: CryptoKey; record: KeyRecord }> {
  const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
  try {
    const master = await subtle().importKey('raw', raw, 'HKDF', false, ['deriveKey']);
    if (passphrase === undefined) return { master, record: { kind: 'device', master } };
    const salt = globalThis.crypto.getRandomValues(new Uint8Array(16));
    const kek = await passphraseKey(passphrase, salt, PBKDF2_ITERATIONS);
    // wrapKey takes an extractable key: the same bytes, briefly, as one (HKDF keys cannot be extractable).
    const carrier = await subtle().importKey('raw', raw, { name: 'AES-GCM' }, true, ['encrypt']);
    const wrapped = new Uint8Array(await subtle().wrapKey('raw', carrier, kek, 'AES-KW'));
    return { master, record: { kind: 'passphrase', salt, iterations: PBKDF2_ITERATIONS, wrapped } };
  } finally {
    raw.fill(0);
  }
}

async function passphraseKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  if (passphrase.length === 0 || passphrase.length > 1024) throw new SealpostError('INVALID_INPUT', 'passphrase: 1 to 1024 characters');
  const base = await subtle().importKey('raw', bs(utf8(passphrase.normalize('NFC'))), 'PBKDF2', false, ['deriveKey']);
  return subtle().deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: bs(salt), iterations }, base, { name: 'AES-KW', length: 256 }, false, ['wrapKey', 'unwrapKey']);
}

async function unwrapMaster(record: Extract<KeyRecord, { kind: 'passphrase' }>, passphrase: string): Promise<CryptoKey> {
  const kek = await passphraseKey(passphrase, record.salt, record.iterations);
  try {
    return await subtle().unwrapKey('raw', bs(record.wrapped), kek, 'AES-KW', 'HKDF', false, ['deriveKey']);
  } catch {
    throw new SealpostError('PASSPHRASE_WRONG', 'wrong passphrase for this browser profile');
  }
}

async function deriveKeys(master: CryptoKey): Promise<Keys> {
  const salt = new Uint8Array(32);
  const aes = await subtle().deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info: bs(utf8('sealpost browser profile: records')) },
    master,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
  const mac = await subtle().deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info: bs(utf8('sealpost browser profile: record ids')) },
    master,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign'],
  );
  return { aes, mac };
}
