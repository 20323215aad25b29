// Reading a text from a file given on the command line, or from standard input: must exist, not be huge, be UTF-8.
import { readFile, stat } from 'node:fs/promises';
import { SealpostError, limits } from '@sealpost/protocol';

export async function readTextFile(path: string, what: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) throw new SealpostError('FILE_NOT_FOUND', `${what}: cannot read ${path}`);
  // UTF-8 uses at most 4 bytes per character.
  if (st.size > limits.maxMailBodyChars * 4) throw new SealpostError('PAYLOAD_TOO_LARGE', `${what}: ${path} is too large (${st.size} bytes)`);
  const bytes = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SealpostError('INVALID_INPUT', `${what}: ${path} is not UTF-8 text`);
  }
}

/** Standard input as UTF-8 text (`sealpost send --to bob -`), refused past `maxBytes`. */
export async function readTextStdin(what: string, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new SealpostError('PAYLOAD_TOO_LARGE', `${what}: standard input is longer than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new SealpostError('INVALID_INPUT', `${what}: standard input is not UTF-8 text`);
  }
}
