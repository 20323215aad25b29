// The web client's build: one small bundle with content-hashed names, built from the workspace sources (the SDK's
// browser entry, never a Node module), the same bytes from the same commit (no timestamps, no absolute paths).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const pkg = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

export default defineConfig({
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
