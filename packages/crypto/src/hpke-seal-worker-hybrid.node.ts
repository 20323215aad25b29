// A worker thread of the X-Wing seal pool (hpke-seal-pool.node.ts): seals a batch of path secrets of a pq-hybrid
// commit, each to its recipient's X-Wing public key with the library's HPKE (ts-mls's provider for the suite, over
// @hpke/core and @hpke/hybridkem-x-wing), and answers with the encapsulations and ciphertexts in order.
import { parentPort } from 'node:worker_threads';
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import type { SealJob } from './hpke-seal-pool.node.js';

const suite = getCiphersuiteImpl(getCiphersuiteFromName('MLS_256_XWING_AES256GCM_SHA512_Ed25519'));

// Each seal answers on its own (a bad recipient key fails that seal only, as in-thread).
parentPort!.on('message', (m: { id: number; jobs: SealJob[] }) => {
  void (async () => {
    const { hpke } = await suite;
    const results = [];
    for (const j of m.jobs) {
      try {
        results.push(await hpke.seal(await hpke.importPublicKey(j.pub), j.pt, j.info, j.aad));
      } catch (err) {
        results.push({ error: (err as Error).message });
      }
    }
    parentPort!.postMessage({ id: m.id, results });
  })();
});
