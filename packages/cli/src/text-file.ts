// Reading a body from a file given on the command line: must exist, be a regular file, not be huge, be UTF-8.
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
