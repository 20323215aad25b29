// Tests run against the TypeScript sources; the CLI end-to-end test runs the built `dist/` as a user would.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@sealpost/protocol': src('protocol'),
      '@sealpost/crypto': src('crypto'),
      '@sealpost/server': src('server'),
      '@sealpost/client': src('client'),
      '@sealpost/cli': src('cli'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 15_000,
    pool: 'forks',
  },
});
