// What a malicious operator does to the server's database in attack tests, in one place: open it, fake an admin
// reset of a user (their list gone, queued for the key-transparency log: published as a retirement), and write a
// device list under an account key the operator holds (queued for the log when `publish`). Only the SQLite store.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { defaultCiphersuite, newDeviceId, parseUserId, signDeviceList } from '@sealpost/protocol';

export const operatorDb = (dataDir: string) => new Database(join(dataDir, 'sealpost.db'));

/** Queue `user`'s record for the next key-transparency epoch, as the store does on a change. */
export function markPending(d: Database.Database, user: string): void {
  d.prepare('INSERT INTO kt_pending (user, seq) VALUES (?, 1000) ON CONFLICT(user) DO UPDATE SET seq = seq + 1').run(user);
}

/** The user's device list deleted and queued: the next epoch retires the account, as an admin reset would. */
export function fakeReset(dataDir: string, user: string): void {
  const d = operatorDb(dataDir);
  d.prepare('DELETE FROM device_lists WHERE user = ?').run(user);
  markPending(d, user);
  d.close();
}

/** A device list for `user` signed by an account key the operator holds, written over theirs; returns its device id. */
export async function writeOperatorList(dataDir: string, user: string, publish: boolean): Promise<string> {
  const cs = await defaultCiphersuite();
  const operatorKey = await cs.signature.keygen();
  const device = newDeviceId();
  const signed = await signDeviceList(cs.signature, operatorKey.signKey, {
    user: parseUserId(user),
    version: 7,
    accountKey: operatorKey.publicKey,
    devices: [{ id: device, signatureKey: (await cs.signature.keygen()).publicKey, addedAt: Date.now() }],
  });
  const d = operatorDb(dataDir);
  d.prepare(
    `INSERT INTO device_lists (user, version, account_key, body, signature) VALUES (?, 7, ?, ?, ?)
     ON CONFLICT(user) DO UPDATE SET version = 7, account_key = excluded.account_key, body = excluded.body, signature = excluded.signature`,
  ).run(user, operatorKey.publicKey, signed.body, signed.signature);
  if (publish) markPending(d, user);
  d.close();
  return device;
}

/** The server publishes an epoch every second (ktEpochMs): wait for the next one. */
export const nextEpoch = () => new Promise((r) => setTimeout(r, 1500));
