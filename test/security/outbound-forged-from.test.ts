// Attack: a signed-in user submits outbound mail whose From is a colleague (or the CEO), hoping the server signs it
// with the organisation's DKIM key. The server must refuse (FORBIDDEN) and queue nothing.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newMessageId, toBase64Url, utf8 } from '@sealpost/protocol';
import { HttpApi } from '@sealpost/client';
import { sessionTokenOf, startTestServer, type TestClient, type TestServer } from '../helpers.js';

let server: TestServer;
let mallory: TestClient;
beforeAll(async () => {
  server = await startTestServer();
  await server.enroll('ceo');
  mallory = await server.enroll('mallory');
  await mallory.client.sync();
});
afterAll(() => server?.close());

it('will not sign or send a message that claims another sender', async () => {
  const api = new HttpApi(server.url, async () => sessionTokenOf(mallory.profile));
  for (const from of ['ceo@localhost', 'CEO <ceo@localhost>', 'mallory@localhost\r\nFrom: ceo@localhost']) {
    const raw = `From: ${from}\r\nTo: bank@outside.example\r\nSubject: wire it\r\nMessage-ID: <x@localhost>\r\n\r\npay\r\n`;
    const twoFroms = `From: mallory@localhost\r\nFrom: ceo@localhost\r\nTo: bank@outside.example\r\nSubject: x\r\n\r\ny\r\n`;
    for (const message of [raw, twoFroms]) {
      await expect(
        api.request('POST', '/v1/mail/outbound', { id: newMessageId(), to: ['bank@outside.example'], raw: toBase64Url(utf8(message)), encrypted: false }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  }
  const queue = await server.adminRequest<{ queue: unknown[] }>('GET', '/v1/admin/mail/queue');
  expect(queue.queue).toEqual([]);
});
