// @sealpost/crypto: fast MLS crypto for Node (node:crypto, and libsodium where its addon loads). Browsers use ts-mls's WebCrypto-backed provider.
export { nodeCiphersuite } from './node-provider.node.js';
export { nodeHybridCiphersuite } from './node-hybrid-provider.node.js';
export { sealPoolCounts } from './hpke-seal-pool.node.js';
export { sha256Native } from './sha256.node.js';
export { x25519WithScalar } from './x25519.node.js';
export { privateKeyFrom } from './der.node.js';
import { importPublic, seal } from './hpke.node.js';
/** HPKE base-mode seal to a raw X25519 public key (the MLS suite-1 HPKE): the SMTP gateway's sealing to intake keys. */
export const hpkeSealTo = (publicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): { enc: Uint8Array; ct: Uint8Array } =>
  seal(importPublic(publicKey), info, aad, plaintext);
/** The same to a raw X-Wing public key (1,216 bytes; the pq-hybrid suite's HPKE): post-quantum intake keys. */
export { xwingSeal as hpkeSealToXWing } from './hpke-xwing.node.js';
