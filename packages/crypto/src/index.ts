// @sealpost/crypto: fast MLS crypto for Node (node:crypto). Browsers use ts-mls's WebCrypto-backed provider.
export { nodeCiphersuite } from './node-provider.node.js';
