// A Web Worker that hashes a file's ciphertext (SHA-256, hash-wasm's WebAssembly) as chunks arrive, so that hashing
// runs beside encryption, upload and download instead of on the page's thread. Messages are handled in order.
import { createSHA256 } from 'hash-wasm';

type Message = { t: 'update'; bytes: Uint8Array } | { t: 'digest' };

const hasher = createSHA256().then((h) => {
  h.init();
  return h;
});
let chain: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<Message>) => {
  const msg = e.data;
  chain = chain.then(async () => {
    const h = await hasher;
    if (msg.t === 'update') h.update(msg.bytes);
    else self.postMessage({ digest: h.digest('binary') });
  }).catch((err: unknown) => {
    self.postMessage({ error: (err as Error).message });
  });
};
