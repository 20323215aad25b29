// Encryption at rest of the device's local store: SQLite3 Multiple Ciphers in SQLCipher v4 format, keyed with a raw
// 256-bit key derived from the passphrase by scrypt (node:crypto); the scrypt parameters and salt sit beside the
// database in profile.key.
import Database from 'better-sqlite3-multiple-ciphers';
import { scryptSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SealpostError } from '@sealpost/protocol';

/** scrypt cost (RFC 7914): N = 2^15, r = 8, p = 1 — about 100 ms and 32 MiB here, per open. */
export const KDF = { N: 32768, r: 8, p: 1 } as const;
export const PROFILE_FILES = ['profile.db', 'profile.db-wal', 'profile.db-shm', 'profile.key'];

export interface KdfParams {
  v: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

export function deriveKey(passphrase: string, params: KdfParams): Buffer {
  if (passphrase.length === 0 || passphrase.length > 1024) throw new SealpostError('INVALID_INPUT', 'passphrase: 1 to 1024 characters');
  return scryptSync(passphrase.normalize('NFC'), Buffer.from(params.salt, 'base64'), 32, { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r * 2 });
}

export function readKdf(dir: string): KdfParams | undefined {
  const file = join(dir, 'profile.key');
  if (!existsSync(file)) return undefined;
  const raw = readFileSync(file, 'utf8');
  let p: KdfParams;
  try {
    p = JSON.parse(raw.slice(0, 4096)) as KdfParams;
  } catch {
    throw new SealpostError('CONFIG_INVALID', `${file} is damaged`);
  }
  if (p.v !== 1 || p.kdf !== 'scrypt' || ![16384, 32768, 65536, 131072].includes(p.N) || p.r !== 8 || p.p !== 1 || typeof p.salt !== 'string') {
    throw new SealpostError('CONFIG_INVALID', `${file}: unsupported key derivation parameters`);
  }
  return p;
}

/** The first read is where a wrong key shows; nothing has been written by then. */
export function readable(db: Database.Database): boolean {
  try {
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') return false;
    throw err;
  }
}

export function applyKey(db: Database.Database, key: Buffer, pragma: 'key' | 'rekey'): void {
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  db.pragma(`${pragma} = "x'${key.toString('hex')}'"`);
}
