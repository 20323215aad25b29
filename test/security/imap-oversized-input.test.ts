// Attack: exhaust the bridge's memory or CPU with input — a literal of 1 GB announced, 10,000 nested parentheses, a
// command line with no end. Each is refused at once (before the literal's bytes are read), and the bridge serves on.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bridgeTarget, imapTalk } from './bridge-setup.js';

let target: Awaited<ReturnType<typeof bridgeTarget>>;
beforeAll(async () => {
  target = await bridgeTarget();
}, 120_000);
afterAll(() => target?.close());

it('refuses a 1 GB literal when announced, deep nesting and an endless line, and keeps serving', async () => {
  const port = target.bridge.imap;
  expect(await imapTalk(port, ['a1 LOGIN bob@localhost {1073741824}'])).toMatch(/a1 BAD literal of 1073741824 bytes is larger than/);
  const t = Date.now();
  expect(await imapTalk(port, [`a2 LOGIN bob@localhost ${target.password}`, `a3 FETCH 1 ${'('.repeat(10_000)}${')'.repeat(10_000)}`])).toMatch(/a3 BAD lists nested deeper than/);
  expect(Date.now() - t).toBeLessThan(3000);
  expect(await imapTalk(port, [`a4 NOOP ${'x'.repeat(70 * 1024)}`])).toMatch(/BAD command line longer than/);
  expect(await imapTalk(port, ['a5 CAPABILITY'])).toMatch(/a5 OK/);
});
