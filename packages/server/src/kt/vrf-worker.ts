// A worker thread of the VRF pool (vrf-pool.ts): computes the prefix-tree indexes of label versions, and VRF proofs,
// with the VRF secret key it was started with, so that a burst of new account records or of searches uses every
// core and the event loop of the node stays free meanwhile.
import { parentPort, workerData } from 'node:worker_threads';
import { vrfOutputFunction, vrfProve } from '@sealpost/protocol';
import { x25519WithScalar } from '@sealpost/crypto';

const secretKey = new Uint8Array((workerData as { secretKey: Uint8Array }).secretKey);
const output = vrfOutputFunction(secretKey, x25519WithScalar);
// 'indexes': prefix-tree indexes; 'proofs': full VRF proofs (~5 ms each), for search and monitor answers.
parentPort!.on('message', (m: { id: number; op: 'indexes' | 'proofs'; alphas: Uint8Array[] }) => {
  if (m.op === 'proofs') parentPort!.postMessage({ id: m.id, results: m.alphas.map((a) => vrfProve(secretKey, a)) });
  else parentPort!.postMessage({ id: m.id, results: m.alphas.map((a) => output(a).slice(0, 32)) });
});
