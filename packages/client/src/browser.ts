// @sealpost/client/browser: the same SDK without any Node module. The runtime-neutral SealpostClient is extended
// with a browser ClientPlatform (IndexedDB, WebCrypto, the global WebSocket, File objects) by packages/web.
export * from './client.js';
export * from './platform.js';
export * from './profile-storage.js';
export * from './socket.js';
export * from './http-api.js';
export * from './trust.js';
export * from './mail.js';
export * from './kt-verifier.js';
