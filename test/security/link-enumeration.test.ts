// Attack: probe unauthenticated POST /v1/link to sort addresses into enrolled, disabled, not yet enrolled and
// unknown users (before, each got its own answer). Now all but an active, enrolled user get one answer, and the
// endpoint has a budget per source address.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { newDeviceId } from '@sealpost/protocol';
import { startTestServer, type TestServer } from '../helpers.js';

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer({ rateLimits: { unauthenticated: { burst: 10, perMinute: 1 } } });
});
afterEach(async () => {
  await server.close();
});

const probe = async (user: string): Promise<{ status: number; code: string; message: string }> => {
  const b64 = (n: number) => Buffer.alloc(n, 1).toString('base64url');
  const res = await fetch(`${server.url}/v1/link`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, device: newDeviceId(), signatureKey: b64(32), hpkeKey: b64(32), keyPackages: [b64(8)], lastResortKeyPackage: b64(8) }),
  });
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: error.code, message: error.message.replace(user, 'USER') };
};

it('answers the same for unknown, disabled and not enrolled users, and limits probes per address', async () => {
  await server.addUser('pending-pat'); // added, never enrolled
  await server.enroll('disabled-dan');
  await server.adminRequest('POST', '/v1/admin/users/disabled-dan@localhost/disable', {});
  const answers = await Promise.all(['nobody@localhost', 'pending-pat@localhost', 'disabled-dan@localhost'].map(probe));
  expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
  expect(answers[0]).toMatchObject({ status: 404, code: 'USER_NOT_FOUND' });
  // An enrolled user's link request gets past the directory (and fails later, on its junk KeyPackage).
  const alice = await server.enroll('alice');
  expect((await probe(alice.client.user)).code).toBe('MLS_ERROR');
  // The address's budget (10 here) runs out: the enrollments above used some (each enrolls and signs in), the probes the rest.
  const more = await Promise.all(Array.from({ length: 8 }, () => probe('nobody@localhost')));
  expect(more.map((a) => a.code)).toContain('RATE_LIMITED');
});
