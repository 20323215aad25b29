// The SQLite profile (plain and encrypted) against the ProfileStorage contract.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { ProfileStore } from './profile-store.node.js';
import { runProfileStorageContract } from './profile-storage.testkit.js';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'sealpost-profile-contract-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runProfileStorageContract('SQLite profile', () => ProfileStore.open(fresh(), { create: true }));
runProfileStorageContract('SQLite profile, encrypted', () => ProfileStore.open(fresh(), { create: true, passphrase: 'correct horse' }));
