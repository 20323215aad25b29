// @sealpost/protocol: pure TypeScript shared by server and clients. No I/O, no clock, no node:* imports.
export * from './errors.js';
export * from './bytes.js';
export * from './ids.js';
export * from './codec.js';
export * from './limits.js';
export * from './mls/credential.js';
export * from './mls/ciphersuite.js';
export * from './mls/group-engine.js';
