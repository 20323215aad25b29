// Fields of request bodies that need more than a schema: base64url bytes, named in the error when malformed.
import { SealpostError, fromBase64Url } from '@sealpost/protocol';

/** A base64url field of a request body, or INVALID_INPUT naming it. */
export function b64(s: string, where: string): Uint8Array {
  const b = fromBase64Url(s);
  if (!b) throw new SealpostError('INVALID_INPUT', `${where}: not base64url`);
  return b;
}
