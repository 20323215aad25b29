// @sealpost/client: the SDK a device runs. All keys and plaintext stay here.
export * from './client.js';
export * from './profile-storage.js';
export * from './profile-store.node.js';
export * from './socket.js';
export * from './http-api.js';
export * from './trust.js';
export * from './mail.js';
export * from './files.node.js';
export * from './auditor.node.js';
export * from './kt-verifier.js';
