// The version is written once (protocol/src/version.ts); the root package.json must say the same.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { VERSION } from '@sealpost/protocol';

it('the version in protocol/src/version.ts is the root package.json version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(VERSION).toBe(pkg.version);
});
