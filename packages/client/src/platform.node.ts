// The client in Node: the profile is an SQLite folder (profile-store.node.ts), MLS crypto is node:crypto and
// libsodium (@sealpost/crypto), the WebSocket is `ws`, files are read and written by path (files.node.ts).
import { rmdirSync } from 'node:fs';
import WebSocket from 'ws';
import { limits } from '@sealpost/protocol';
import { nodeCiphersuite, nodeHybridCiphersuite } from '@sealpost/crypto';
import { FileTransfer } from './files.node.js';
import { ProfileStore } from './profile-store.node.js';
import type { ClientPlatform } from './platform.js';
import { nodeMimeComposer } from './mime.node.js';

export const nodePlatform: ClientPlatform = {
  ciphersuite: () => nodeCiphersuite(),
  suiteImpl: (suite) => (suite === 'pq-hybrid' ? nodeHybridCiphersuite() : Promise.resolve(nodeCiphersuite())),
  openProfile: async (dir, opts) => ProfileStore.open(dir, { create: opts.create, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) }),
  discardProfile(store) {
    store.close();
    ProfileStore.erase(store.dir);
    try {
      rmdirSync(store.dir);
    } catch {
      // Not empty (the user keeps other files there) or already gone.
    }
  },
  files: (api, store, token, testHooks) => new FileTransfer(api, store, token, testHooks),
  webSocket: (url) => new WebSocket(url, { maxPayload: 2 * limits.maxServerFrameBytes }) as never,
  mime: nodeMimeComposer,
};
