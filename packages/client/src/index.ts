// @sealpost/client: the SDK a device runs. All keys and plaintext stay here. This is the Node entry point; browsers
// import '@sealpost/client/browser' (no Node module in it) and bring their own platform (packages/web).
export * from './client.js';
export { SealpostClient } from './client.node.js';
export * from './platform.js';
export { nodePlatform } from './platform.node.js';
export * from './profile-storage.js';
export * from './profile-store.node.js';
export * from './socket.js';
export * from './http-api.js';
export * from './trust.js';
export { ArchiveNotAcknowledged, type ArchivedState } from './legal-hold.js';
export * from './mail.js';
export * from './files.node.js';
export * from './auditor.node.js';
export * from './kt-verifier.js';
