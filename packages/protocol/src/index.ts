// @sealpost/protocol: pure TypeScript shared by server and clients. No I/O, no clock, no node:* imports.
export * from './errors.js';
export * from './bytes.js';
export * from './ids.js';
export * from './codec.js';
export * from './limits.js';
export * from './mls/credential.js';
export * from './mls/ciphersuite.js';
export * from './mls/group-engine.js';
export * from './mls/key-package.js';
export * from './signing.js';
export * from './device-list.js';
export * from './frames.js';
export * from './api.js';
export * from './content.js';
export * from './auth.js';
export * from './files/file-format.js';
export * from './files/file-ref.js';
