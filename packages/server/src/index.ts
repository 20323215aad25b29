// @sealpost/server: the Delivery Service, directory and admin API.
export * from './context.js';
export * from './server.js';
export * from './start.js';
export { backupDataFolder, type BackupResult } from './backup.js';
export { readBuild, hashAsset, type WebAssets } from './web-assets.js';
export * from './store/store.js';
export * from './store/sqlite.js';
export * from './bus/bus.js';
export * from './bus/local.js';
export * from './http/rate-limit.js';
export * from './ws/connection.js';
