// @sealpost/crypto: fast MLS crypto for Node (node:crypto, and libsodium where its addon loads). Browsers use ts-mls's WebCrypto-backed provider.
export { nodeCiphersuite } from './node-provider.node.js';
export { sealPoolCounts } from './hpke-seal-pool.node.js';
export { sha256Native } from './sha256.node.js';
export { x25519WithScalar } from './x25519.node.js';
export { privateKeyFrom } from './der.node.js';
