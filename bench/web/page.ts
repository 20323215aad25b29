// The in-page half of `npm run bench:web`: built by bench/web.mjs with the web client's own Vite config (same
// aliases, same SDK, same MLS provider) into a module served beside a copy of the app and loaded in Chromium under
// the app's CSP. Never shipped. The MLS loop is shared with the Node half (mls-pairs.mjs, plain JavaScript).
import { mlsPairs as pairs } from './mls-pairs.mjs';
import { HttpApi } from '@sealpost/client/browser';
import { DEFAULT_FILE_CHUNK_SIZE, FILE_TAG_BYTES, cipherSizeOf, defaultCiphersuite } from '@sealpost/protocol';
import { SealpostClient } from '../../packages/web/src/sdk/platform.browser.js';

/** MLS encrypt+decrypt pairs per second in the page, with the app's own provider (WebCrypto + noble). */
export async function mlsPairs(n: number): Promise<number> {
  return pairs(await defaultCiphersuite(), n);
}

let client: SealpostClient | undefined;
const token = () => (client as unknown as { session: { sessionToken(): Promise<string> } }).session.sessionToken(); // bench seam

export async function enroll(server: string, user: string, code: string): Promise<void> {
  client = await SealpostClient.enroll({ server, user, code, profile: 'bench' });
}

function randomFile(size: number): File {
  const parts: Uint8Array[] = [];
  for (let done = 0; done < size; done += 1 << 20) {
    const p = new Uint8Array(Math.min(1 << 20, size - done));
    for (let o = 0; o < p.length; o += 65536) crypto.getRandomValues(p.subarray(o, o + 65536));
    parts.push(p);
  }
  return new File(parts as BlobPart[], 'bench.bin', { type: 'application/octet-stream' });
}

/** Encrypted upload (sent as an attachment to `to`), then the decrypting download into a file on disk (OPFS). */
export async function encryptedTransfer(to: string, size: number): Promise<{ uploadMs: number; downloadMs: number; blob: string }> {
  const file = randomFile(size);
  let t = performance.now();
  const sent = await client!.send({ to: [to] }, '', { files: [file] });
  const uploadMs = performance.now() - t;
  const m = client!.messages(sent.conversation).find((x) => x.id === sent.id)!;
  const attachment = m.attachments![0]!;
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle('bench-download', { create: true });
  t = performance.now();
  await client!.saveAttachment(attachment.id, await handle.createWritable());
  const downloadMs = performance.now() - t;
  if ((await handle.getFile()).size !== size) throw new Error('download size differs');
  await root.removeEntry('bench-download');
  return { uploadMs, downloadMs, blob: attachment.id };
}

/** The same bytes and request sizes without encryption: create a blob, PUT it in 8-chunk parts, read it back. */
export async function plainTransfer(size: number): Promise<{ uploadMs: number; downloadMs: number }> {
  const file = randomFile(cipherSizeOf(size, DEFAULT_FILE_CHUNK_SIZE));
  const api = new HttpApi(location.origin, token);
  let t = performance.now();
  const { id } = await api.request<{ id: string }>('POST', '/v1/blobs', { size: file.size });
  const part = 8 * (DEFAULT_FILE_CHUNK_SIZE + FILE_TAG_BYTES);
  for (let offset = 0; offset < file.size; offset += part) {
    const body = file.slice(offset, offset + part);
    const res = await fetch(`/v1/blobs/${id}?offset=${offset}`, { method: 'PUT', headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/octet-stream' }, body });
    if (!res.ok) throw new Error(`plain upload: ${res.status}`);
  }
  const uploadMs = performance.now() - t;
  t = performance.now();
  const res = await fetch(`/v1/blobs/${id}`, { headers: { authorization: `Bearer ${await token()}` } });
  const reader = res.body!.getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    got += value.length;
  }
  const downloadMs = performance.now() - t;
  if (got !== file.size) throw new Error('plain download size differs');
  return { uploadMs, downloadMs };
}

