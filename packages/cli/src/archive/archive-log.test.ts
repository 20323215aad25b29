import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ArchiveLog } from './archive-log.js';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'archive-log-'));
  dirs.push(d);
  return join(d, 'archive.log');
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const stored = (n: number) => ({
  event: 'stored' as const,
  conversation: 'c_x',
  message: `m_${n}`,
  kind: 'chat' as const,
  from: 'alice@example.org',
  sentAt: new Date(n).toISOString(),
  members: ['alice@example.org', 'bob@example.org'],
  sha256: 'ab'.repeat(32),
});

async function written(path: string): Promise<string[]> {
  const log = await ArchiveLog.open(path);
  for (let i = 1; i <= 4; i++) log.append(stored(i));
  return readFileSync(path, 'utf8').trim().split('\n');
}

it('appends a chain that reads back whole, with the messages it stored', async () => {
  const path = fresh();
  await written(path);
  const again = await ArchiveLog.open(path);
  expect(again.head.seq).toBe(4);
  expect([...again.stored]).toEqual(['m_1', 'm_2', 'm_3', 'm_4']);
  again.append({ event: 'exported', user: 'bob@example.org', from: null, to: null, chats: 4, mails: 0, manifest: 'cd'.repeat(32) });
  expect((await ArchiveLog.open(path)).head.seq).toBe(5);
});

it.each([
  ['a line changed', (l: string[]) => l.map((x, i) => (i === 1 ? x.replace('m_2', 'm_9') : x))],
  ['a line removed', (l: string[]) => l.filter((_, i) => i !== 2)],
  ['two lines swapped', (l: string[]) => [l[0]!, l[2]!, l[1]!, l[3]!]],
  ['a line that is not JSON', (l: string[]) => [...l.slice(0, 3), '{not json']],
  ['an overlong line', (l: string[]) => [...l, 'x'.repeat(70_000)]],
])('refuses a log with %s (ARCHIVE_LOG_BROKEN)', async (_what, tamper) => {
  const path = fresh();
  writeFileSync(path, `${tamper(await written(path)).join('\n')}\n`);
  await expect(ArchiveLog.open(path)).rejects.toMatchObject({ code: 'ARCHIVE_LOG_BROKEN' });
});

it.each(['null', '5', '"x"', '[]'])('refuses a line that is JSON but no entry (%s)', async (line) => {
  const path = fresh();
  writeFileSync(path, `${line}\n`);
  await expect(ArchiveLog.open(path)).rejects.toMatchObject({ code: 'ARCHIVE_LOG_BROKEN' });
});
