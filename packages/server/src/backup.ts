// `sealpost admin backup`: a consistent copy of a single node's data folder, taken while the server runs — the
// SQLite database through SQLite's online backup (a snapshot of one moment, whatever the server writes meanwhile),
// then the blobs it may refer to and the key and token files — in a folder that `sealpost server --data` starts
// from. backup.json records when, and the key-transparency head the copy holds. PostgreSQL is backed up with its
// own tools (docs/operations.md).
import Database from 'better-sqlite3';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SealpostError, VERSION, toBase64Url } from '@sealpost/protocol';

/** The data folder's files besides the database and blobs (server-secret is kept apart from the database's copies). */
const KEY_FILES = ['server-secret', 'admin-token', 'metrics-token', 'server-key.pem'];

export interface BackupResult {
  out: string;
  createdAt: string;
  databaseBytes: number;
  blobs: number;
  blobBytes: number;
  keyFiles: string[];
  /** The newest key-transparency epoch in the copy: clients that saw a later one refuse a server restored from it. */
  ktHead: { epoch: number; timestamp: number; logRoot: string } | null;
}

export async function backupDataFolder(dataDir: string, outDir: string, onProgress?: (line: string) => void): Promise<BackupResult> {
  const data = resolve(dataDir);
  const out = resolve(outDir);
  const dbFile = join(data, 'sealpost.db');
  if (!existsSync(dbFile)) {
    throw new SealpostError('CONFIG_INVALID', `${data} holds no sealpost.db; a cluster on PostgreSQL is backed up with pg_dump or base backups (docs/operations.md, Backups)`);
  }
  if (existsSync(out) && readdirSync(out).length > 0) throw new SealpostError('INVALID_INPUT', `--out ${out}: not empty; give a new folder`);
  mkdirSync(out, { recursive: true, mode: 0o700 });

  // 1. The database, as of one moment (the online backup copies pages while the server goes on writing).
  const source = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    await source.backup(join(out, 'sealpost.db'));
  } finally {
    source.close();
  }
  chmodSync(join(out, 'sealpost.db'), 0o600);
  onProgress?.('database copied');

  // 2. Blobs after the database: every blob the copy refers to existed when the copy was made (a blob deleted since
  // is only missing from the copy); uploads in progress are left out (their clients upload again).
  let blobs = 0;
  let blobBytes = 0;
  const blobDir = join(data, 'blobs');
  if (existsSync(blobDir)) {
    for (const shard of readdirSync(blobDir)) {
      if (shard === 'partial') continue;
      const from = join(blobDir, shard);
      if (!statSync(from).isDirectory()) continue;
      mkdirSync(join(out, 'blobs', shard), { recursive: true, mode: 0o700 });
      for (const name of readdirSync(from)) {
        try {
          copyFileSync(join(from, name), join(out, 'blobs', shard, name));
          blobs++;
          blobBytes += statSync(join(from, name)).size;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted meanwhile: fine
        }
      }
    }
  }
  onProgress?.(`${blobs} blobs copied`);

  // 3. Keys and tokens.
  const keyFiles = KEY_FILES.filter((f) => existsSync(join(data, f)));
  for (const f of keyFiles) {
    copyFileSync(join(data, f), join(out, f));
    chmodSync(join(out, f), 0o600);
  }

  // 4. What the copy holds of the key-transparency log.
  const copy = new Database(join(out, 'sealpost.db'), { readonly: true });
  let ktHead: BackupResult['ktHead'] = null;
  try {
    const r = copy.prepare('SELECT epoch, timestamp, log_root FROM kt_epochs ORDER BY epoch DESC LIMIT 1').get() as
      | { epoch: number; timestamp: number; log_root: Buffer }
      | undefined;
    if (r) ktHead = { epoch: r.epoch, timestamp: r.timestamp, logRoot: toBase64Url(new Uint8Array(r.log_root)) };
  } finally {
    copy.close();
  }
  const result: BackupResult = {
    out,
    createdAt: new Date().toISOString(),
    databaseBytes: statSync(join(out, 'sealpost.db')).size,
    blobs,
    blobBytes,
    keyFiles,
    ktHead,
  };
  writeFileSync(join(out, 'backup.json'), `${JSON.stringify({ version: VERSION, from: data, ...result }, null, 2)}\n`, { mode: 0o600 });
  return result;
}
