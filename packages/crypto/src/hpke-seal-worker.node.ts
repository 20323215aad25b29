// A worker thread of the HPKE seal pool (hpke-seal-pool.node.ts): seals a batch of path secrets, each to its
// recipient's public key with a fresh ephemeral key, and answers with the encapsulations and ciphertexts in order.
import { parentPort } from 'node:worker_threads';
import type { SealJob } from './hpke-seal-pool.node.js';
import { importPublic, seal } from './hpke.node.js';

// Each seal answers on its own (a bad recipient key fails that seal only, as in-thread).
parentPort!.on('message', (m: { id: number; jobs: SealJob[] }) => {
  const results = m.jobs.map((j) => {
    try {
      return seal(importPublic(j.pub), j.info, j.aad, j.pt);
    } catch (err) {
      return { error: (err as Error).message };
    }
  });
  parentPort!.postMessage({ id: m.id, results });
});
