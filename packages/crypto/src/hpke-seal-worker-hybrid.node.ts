// A worker thread of the X-Wing seal pool (hpke-seal-pool.node.ts): seals a batch of path secrets of a pq-hybrid
// commit, each to its recipient's X-Wing public key (hpke-xwing.node.ts), and answers with the encapsulations and
// ciphertexts in order.
import { parentPort } from 'node:worker_threads';
import type { SealJob } from './hpke-seal-pool.node.js';
import { xwingSeal } from './hpke-xwing.node.js';

// Each seal answers on its own (a bad recipient key fails that seal only, as in-thread).
parentPort!.on('message', (m: { id: number; jobs: SealJob[] }) => {
  void (async () => {
    const results = [];
    for (const j of m.jobs) {
      try {
        results.push(await xwingSeal(j.pub, j.info, j.aad, j.pt));
      } catch (err) {
        results.push({ error: (err as Error).message });
      }
    }
    parentPort!.postMessage({ id: m.id, results });
  })();
});
