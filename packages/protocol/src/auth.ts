// Device authentication: what a device signs to prove it holds its device key (labelled 'auth-challenge').
import { concatBytes, utf8 } from './bytes.js';
import type { DeviceId } from './ids.js';

/** The challenge bound to the server's domain and the device id, so a signature cannot be reused elsewhere. */
export function challengeMessage(domain: string, device: DeviceId, challenge: Uint8Array): Uint8Array {
  return concatBytes(challenge, utf8(`\0${domain}\0${device}`));
}
