// Attack: guess the bridge password. Each wrong one is answered more slowly; after a run of them every login is
// refused for a while — the right password too — so guessing gets nowhere.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from 'node:net';
import { until } from '../mail-peers.js';
import { bridgeTarget, imapTalk } from './bridge-setup.js';

let target: Awaited<ReturnType<typeof bridgeTarget>>;
beforeAll(async () => {
  target = await bridgeTarget();
}, 120_000);
afterAll(() => target?.close());

it('slows wrong passwords, then refuses every login for a while', async () => {
  const s = connect(target.bridge.imap, '127.0.0.1');
  let out = '';
  s.on('data', (d) => (out += d.toString()));
  await new Promise((r) => s.on('connect', r));
  const t = Date.now();
  for (let i = 0; i < 100; i++) s.write(`w${i} LOGIN bob@localhost wrong${i}\r\n`);
  await until(() => (out.includes('w99 ') ? true : undefined), 60_000, 'all 100 answers');
  const ms = Date.now() - t;
  s.destroy();
  expect(out).toMatch(/w0 NO \[AUTHENTICATIONFAILED\]/);
  expect(out).toMatch(/w99 NO \[UNAVAILABLE\]/);
  expect(ms).toBeGreaterThan(2000); // slowed
  expect(await imapTalk(target.bridge.imap, [`r1 LOGIN bob@localhost ${target.password}`])).toMatch(/r1 NO \[UNAVAILABLE\]/);
});
