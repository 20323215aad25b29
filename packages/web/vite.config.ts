// The web client's build: one small bundle with content-hashed names, built from the workspace sources (the SDK's
// browser entry, never a Node module), the same bytes from the same commit (no timestamps, no absolute paths).
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const pkg = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

/**
 * A Node module in the browser bundle is a bug (it would be an empty stub there): the build fails on one. The only
 * exceptions are the fallback `import("crypto")` of @hpke/common and of mlkem (X-Wing's ML-KEM), used only where
 * WebCrypto is missing.
 */
function failOnNodeModules(): Plugin {
  return {
    name: 'sealpost:no-node-modules',
    enforce: 'pre',
    resolveId(source, importer) {
      const nodeBuiltin = source.startsWith('node:') || ['crypto', 'fs', 'path', 'os', 'stream', 'util', 'zlib', 'worker_threads', 'child_process', 'net', 'tls'].includes(source);
      const native = /better-sqlite3|sodium-native|^ws$/.test(source);
      if ((nodeBuiltin || native) && !(source === 'crypto' && (importer?.includes('/@hpke/common/') || importer?.includes('/mlkem/')))) {
        throw new Error(`${importer ?? '?'} imports ${source}: a Node module cannot be part of the web client`);
      }
      return null;
    },
  };
}

export default defineConfig({
  plugins: [failOnNodeModules()],
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  resolve: {
    alias: [
      { find: /^@sealpost\/protocol$/, replacement: pkg('protocol/src/index.ts') },
      { find: /^@sealpost\/client\/browser$/, replacement: pkg('client/src/browser.ts') },
    ],
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    manifest: false,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1024,
  },
});
