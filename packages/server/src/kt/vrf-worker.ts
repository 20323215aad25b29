// A worker thread of the VRF pool (vrf-pool.ts): computes the prefix-tree indexes of label versions with the VRF
// secret key it was started with, so that a burst of new account records uses every core and the event loop of
// the node stays free meanwhile.
import { parentPort, workerData } from 'node:worker_threads';
import { vrfOutputFunction } from '@sealpost/protocol';
import { x25519WithScalar } from '@sealpost/crypto';

const output = vrfOutputFunction(new Uint8Array((workerData as { secretKey: Uint8Array }).secretKey), x25519WithScalar);
parentPort!.on('message', (m: { id: number; alphas: Uint8Array[] }) => {
  const indexes = m.alphas.map((a) => output(a).slice(0, 32));
  parentPort!.postMessage({ id: m.id, indexes });
});
