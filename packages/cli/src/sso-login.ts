// `sealpost enroll --sso`: sign in with the organisation's identity provider to get the activation code for a first
// device. The CLI listens on a loopback port for the provider's redirect (RFC 8252 §7.3), prints the address to
// open in a browser, and hands the redirect to the server, which checks the sign-in with the provider and answers
// with an activation code for the person who signed in (server auth/sso.ts). Nothing about keys passes through the
// provider; the enrollment that follows is the ordinary one.
import { createServer, type Server } from 'node:http';
import { SealpostError } from '@sealpost/protocol';
import { HttpApi } from '@sealpost/client';

/** How long the CLI waits for the person to sign in (the server's own limit is ten minutes). */
const WAIT_MS = 10 * 60_000;

export async function ssoActivation(server: string, show: (url: string) => void, signal?: AbortSignal): Promise<{ user: string; activationCode: string }> {
  const api = new HttpApi(server);
  let http: Server | undefined;
  try {
    let deliver!: (url: string) => void;
    let fail!: (err: Error) => void;
    const redirected = new Promise<string>((resolve, reject) => {
      deliver = resolve;
      fail = reject;
    });
    http = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method !== 'GET' || url.pathname !== '/callback' || (req.url ?? '').length > 8192) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Sealpost</title><p>Signed in. You can close this window and go back to the terminal.</p>');
      deliver(`${redirectUri}${url.search}`);
    });
    await new Promise<void>((resolve, reject) => {
      http!.once('error', reject);
      http!.listen(0, '127.0.0.1', () => resolve());
    });
    const address = http.address();
    const redirectUri = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/callback`;
    const { authorizationUrl } = await api.request<{ authorizationUrl: string }>('POST', '/v1/sso/start', { redirectUri }, 'none');
    show(authorizationUrl);
    const timer = setTimeout(() => fail(new SealpostError('SSO_EXPIRED', `nobody signed in within ${WAIT_MS / 60_000} minutes`)), WAIT_MS);
    timer.unref();
    signal?.addEventListener('abort', () => fail(new SealpostError('SSO_FAILED', 'sign-in cancelled')), { once: true });
    const callbackUrl = await redirected.finally(() => clearTimeout(timer));
    return await api.request<{ user: string; activationCode: string }>('POST', '/v1/sso/finish', { callbackUrl }, 'none');
  } finally {
    http?.close();
    http?.closeAllConnections();
  }
}
