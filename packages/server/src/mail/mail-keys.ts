// A user's mail keys as the server knows them: from their current account-signed device list (and so from the
// key-transparency log). The server can read them but cannot change them without the account key.
import { decodeDeviceList, type MailKeys, type UserId } from '@sealpost/protocol';
import type { ServerStore } from '../store/store.js';

export async function mailKeysOf(store: ServerStore, user: UserId): Promise<MailKeys | undefined> {
  const stored = await store.getDeviceList(user);
  if (!stored) return undefined;
  return decodeDeviceList(stored.body).mail;
}
