import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStoreContract } from './contract.testkit.js';
import { openSqliteStore } from './sqlite.js';
import { sqliteMigrations } from './sqlite-migrations.js';

runStoreContract('sqlite :memory:', async () => openSqliteStore(':memory:'));

describe('SQLite store file', () => {
  it('migrates once and keeps data across reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-sqlite-'));
    try {
      const file = join(dir, 'db.sqlite');
      const a = openSqliteStore(file);
      await a.setMeta('k', 'v');
      expect(a.db.pragma('journal_mode', { simple: true })).toBe('wal');
      await a.close();
      const b = openSqliteStore(file);
      expect(await b.getMeta('k')).toBe('v');
      expect(b.db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()).toEqual({ n: sqliteMigrations.length });
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
