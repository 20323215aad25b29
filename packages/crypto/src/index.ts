// @sealpost/crypto: fast MLS crypto for Node (node:crypto). Browsers use ts-mls's WebCrypto-backed provider.
export { nodeCiphersuite } from './node-provider.node.js';
export { sealPoolCounts } from './hpke-seal-pool.node.js';
export { sha256Native } from './sha256.node.js';
export { x25519WithScalar } from './x25519.node.js';
export { privateKeyFrom } from './der.node.js';
