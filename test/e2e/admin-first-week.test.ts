// What a new admin meets in the first week, through the server's API and the built CLI: a device's lastSeenAt is
// its last activity (not its last sign-in).
import { afterEach, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

it("reports a device's last activity as lastSeenAt, not its last sign-in", async () => {
  let offset = 0;
  server = await startTestServer({ clock: { now: () => Date.now() + offset } });
  const bob = await server.enroll('bob');
  await bob.client.sync();
  const list = async () => ((await server!.adminRequest<{ devices: { lastSeenAt: string | null }[] }>('GET', '/v1/admin/users/bob%40localhost/devices')).devices[0]!.lastSeenAt);
  const signedIn = Date.parse((await list())!);
  // 40 minutes later (the hour-long session still valid), bob's device fetches its queue again.
  offset = 40 * 60_000;
  await bob.client.sync();
  const seen = Date.parse((await list())!);
  expect(seen - signedIn).toBeGreaterThanOrEqual(40 * 60_000 - 5_000);
});
