// Attack: the operator swaps the key of a user whose device is only watching (never runs a command), and, in a
// second case, also locks that device out; in a third, only deletes the account's device list (a directory that
// will not answer is a finding, not an error that stops the check). The watching device checks its own label every monitoring interval
// (selfCheckIntervalMs; 5 minutes by default) and alarms within one interval either way — the lock-out through the
// public monitor. Prints the time from the edit to the alarm.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';
import { fakeReset, operatorDb, writeOperatorList } from '../operator.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

const INTERVAL_MS = 1500;

async function alarmAfterEdit(edit: 'swap' | 'swap and lock-out' | 'list deleted'): Promise<number> {
  const bob = await server.enroll('bob', { selfCheckIntervalMs: INTERVAL_MS });
  await bob.client.sync();
  const ac = new AbortController();
  const watching = bob.client.watch(() => {}, ac.signal).catch(() => {});
  try {
    await new Promise((r) => setTimeout(r, 300));
    const edited = Date.now();
    fakeReset(server.dataDir, 'bob@localhost');
    if (edit !== 'list deleted') await writeOperatorList(server.dataDir, 'bob@localhost', true);
    if (edit === 'swap and lock-out') {
      const d = operatorDb(server.dataDir);
      d.prepare('UPDATE devices SET signature_key = ? WHERE id = ?').run(Buffer.alloc(32, 7), bob.client.device);
      d.prepare('DELETE FROM sessions WHERE device = ?').run(bob.client.device);
      d.close();
    }
    // Bounded: two intervals and two epochs at most.
    for (let i = 0; i < 100 && !bob.warnings.some((w) => w.startsWith('KEY TRANSPARENCY ALARM')); i++) await new Promise((r) => setTimeout(r, 50));
    const alarm = bob.warnings.find((w) => w.startsWith('KEY TRANSPARENCY ALARM'));
    expect(alarm).toBeDefined();
    return Date.now() - edited;
  } finally {
    ac.abort();
    await watching;
  }
}

it('a watching device alarms within one monitoring interval of a key swap', async () => {
  const ms = await alarmAfterEdit('swap');
  console.log(`alarm ${ms} ms after the edit (monitoring every ${INTERVAL_MS} ms, epochs every 1000 ms)`);
  expect(ms).toBeLessThan(2 * INTERVAL_MS + 2000);
});

it('a watching device that is also locked out alarms within one monitoring interval', async () => {
  const ms = await alarmAfterEdit('swap and lock-out');
  console.log(`alarm ${ms} ms after the edit and lock-out (monitoring every ${INTERVAL_MS} ms)`);
  expect(ms).toBeLessThan(2 * INTERVAL_MS + 2000);
});

it("a watching device alarms when the operator deletes its account's rows from the directory", async () => {
  const ms = await alarmAfterEdit('list deleted');
  console.log(`alarm ${ms} ms after the device list was deleted (monitoring every ${INTERVAL_MS} ms)`);
  expect(ms).toBeLessThan(2 * INTERVAL_MS + 2000);
});
