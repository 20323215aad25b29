// The client side of the HTTP API: JSON over fetch, server errors turned back into SealpostErrors with their code.
import { SealpostError, isErrorCode, type BlobId } from '@sealpost/protocol';

const MAX_RATE_LIMIT_WAIT_MS = 30_000;
const MAX_RATE_LIMIT_RETRIES = 5;

export class HttpApi {
  constructor(
    readonly baseUrl: string,
    private readonly getToken?: () => Promise<string>,
    /** Forget the device session (it was refused); the next getToken signs in again. */
    private readonly dropSession?: () => void,
  ) {}

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, auth: 'device' | { admin: string } | 'none' = 'device'): Promise<T> {
    // The server's rate limits are for scripts, not people: a short wait it asks for (Retry-After) is waited out,
    // a few times, so a large group or a long catch-up slows down instead of failing.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestRenewing<T>(method, path, body, auth);
      } catch (err) {
        const wait = err instanceof SealpostError && err.code === 'RATE_LIMITED' ? Number(err.details?.retryAfterMs) : NaN;
        if (!(wait <= MAX_RATE_LIMIT_WAIT_MS) || attempt >= MAX_RATE_LIMIT_RETRIES) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async requestRenewing<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body: unknown, auth: 'device' | { admin: string } | 'none'): Promise<T> {
    try {
      return await this.requestOnce<T>(method, path, body, auth);
    } catch (err) {
      // A refused session (expired, or the server forgot it) is renewed once; signing in again also tells a
      // revoked or wiped device what happened to it.
      if (auth !== 'device' || !this.dropSession || !(err instanceof SealpostError) || err.code !== 'UNAUTHENTICATED') throw err;
      this.dropSession();
      return this.requestOnce<T>(method, path, body, auth);
    }
  }

  private async requestOnce<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body: unknown, auth: 'device' | { admin: string } | 'none'): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth === 'device') {
      if (!this.getToken) throw new SealpostError('UNAUTHENTICATED', 'no device session available');
      headers.authorization = `Bearer ${await this.getToken()}`;
    } else if (auth !== 'none') {
      headers.authorization = `Bearer ${auth.admin}`;
    }
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new SealpostError('SERVER_UNREACHABLE', `cannot reach ${this.baseUrl} (${cause})${certificateHint(cause)}`, { cause: err });
    }
    return readAnswer<T>(res);
  }
}

/** What to do when the failure was the server's certificate (a private CA, a self-signed or expired certificate). */
function certificateHint(code: string): string {
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    return ": this computer does not trust the server's certificate; if your organisation runs its own certificate authority, give its certificate in NODE_EXTRA_CA_CERTS (a PEM file), otherwise ask your admin to check the certificate";
  }
  return '';
}

/** A server answer as JSON; an error answer becomes a SealpostError with its code (and Retry-After, when given). */
export async function readAnswer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    throw new SealpostError('PROTOCOL_ERROR', `server answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = isErrorCode(e?.code) ? e.code : 'PROTOCOL_ERROR';
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new SealpostError(code, typeof e?.message === 'string' ? e.message : `server answered ${res.status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? { details: { retryAfterMs: retryAfter * 1000 } } : undefined);
  }
  return parsed as T;
}

/** Let go of this device's grant on a blob (the server deletes the blob once no grant is left); one gone already is fine. */
export async function releaseBlobGrant(api: HttpApi, blob: BlobId): Promise<void> {
  await api.request('DELETE', `/v1/blobs/${blob}/grant`).catch((err: unknown) => {
    if (err instanceof SealpostError && err.code === 'BLOB_NOT_FOUND') return;
    throw err;
  });
}
