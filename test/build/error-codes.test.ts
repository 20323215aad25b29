// Every error code a user can meet is in the README's table, with its meaning (the CLI's error contract).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { errorCodes } from '@sealpost/protocol';

it('lists every error code in the README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.slice(readme.indexOf('### Error codes and exit codes'), readme.indexOf('## Security model'));
  expect(errorCodes.filter((c) => !table.includes(`| \`${c}\` |`))).toEqual([]);
});
