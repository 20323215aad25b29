// The server a profile belongs to: its URL in one form, and what it says about itself before a device trusts it.
import { SealpostError } from '@sealpost/protocol';
import { HttpApi } from './http-api.js';
import type { ServerInfo } from './types.js';

export function normaliseServerUrl(s: string): string {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new SealpostError('INVALID_INPUT', `server: not a URL (${JSON.stringify(s.slice(0, 100))})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SealpostError('INVALID_INPUT', 'server: must be an http:// or https:// URL');
  return url.origin;
}


/** What the server says about itself (GET /v1/info), refused when it does not look like a Sealpost server. */
export async function fetchServerInfo(server: string): Promise<ServerInfo> {
  const info = await new HttpApi(server).request<ServerInfo>('GET', '/v1/info', undefined, 'none');
  if (typeof info?.orgKey !== 'string' || typeof info.policy !== 'object' || info.policy === null) {
    throw new SealpostError('PROTOCOL_ERROR', `${server} did not describe itself as a Sealpost server (GET /v1/info)`);
  }
  return info;
}
