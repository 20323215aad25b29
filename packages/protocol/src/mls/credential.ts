// MLS basic credentials carry `user@domain/deviceId` (design.md: "MLS credentials carry user@domain and the device id").
import type { Credential } from 'ts-mls';
import { SealpostError } from '../errors.js';
import { fromUtf8, utf8 } from '../bytes.js';
import { parseDeviceId, parseUserId, type DeviceId, type UserId } from '../ids.js';

export interface DeviceIdentity {
  user: UserId;
  device: DeviceId;
}

export function credentialFor(identity: DeviceIdentity): Credential {
  return { credentialType: 'basic', identity: utf8(`${identity.user}/${identity.device}`) };
}

/** Parse a credential; throws MLS_ERROR for anything that is not one of ours. */
export function identityOf(credential: Credential): DeviceIdentity {
  if (credential.credentialType !== 'basic' || credential.identity.length > 400) {
    throw new SealpostError('MLS_ERROR', 'credential: not a Sealpost basic credential');
  }
  let text: string;
  try {
    text = fromUtf8(credential.identity);
  } catch {
    throw new SealpostError('MLS_ERROR', 'credential: identity is not UTF-8');
  }
  const slash = text.lastIndexOf('/');
  if (slash < 0) throw new SealpostError('MLS_ERROR', 'credential: identity has no device part');
  try {
    const user = parseUserId(text.slice(0, slash));
    if (user !== text.slice(0, slash)) throw new Error('not canonical');
    return { user, device: parseDeviceId(text.slice(slash + 1)) };
  } catch {
    throw new SealpostError('MLS_ERROR', 'credential: identity is not user@domain/deviceId');
  }
}
