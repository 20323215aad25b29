// Tests run against the TypeScript sources; the CLI end-to-end test runs the built `dist/` as a user would.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Exact names: '@sealpost/client' must not also catch '@sealpost/client/browser'.
    alias: [
      ...['protocol', 'crypto', 'server', 'client', 'cli'].map((p) => ({ find: new RegExp(`^@sealpost/${p}$`), replacement: src(p) })),
      { find: /^@sealpost\/client\/browser$/, replacement: fileURLToPath(new URL('./packages/client/src/browser.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 15_000,
    pool: 'forks',
    // Most end-to-end files wait on sockets, child processes and timers rather than compute; vitest's default on two
    // cores (one worker) ran them one after another. Three halve the suite's time here, and every test passes so.
    maxWorkers: 3,
  },
});
