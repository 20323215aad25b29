// The directory's rule for KeyPackages a device uploads (at enrollment, linking, or to replenish): each must be an
// MLS KeyPackage for exactly that user and device, signed with that device's key, so the server never relays one
// that another device made.
import { SealpostError, readKeyPackage, type DeviceId, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import type { NewKeyPackage } from '../store/store.js';
import { b64 } from '../http/fields.js';

/** The uploaded KeyPackages, checked; MLS_ERROR naming the first that is not this device's. */
export async function checkKeyPackages(ctx: ServerContext, user: UserId, device: DeviceId, signatureKey: Uint8Array, list: string[]): Promise<NewKeyPackage[]> {
  const out: NewKeyPackage[] = [];
  for (const [i, s] of list.entries()) {
    const data = b64(s, `keyPackages.${i}`);
    const kp = await readKeyPackage(ctx.cs, data);
    if (kp.identity.user !== user || kp.identity.device !== device) {
      throw new SealpostError('MLS_ERROR', `keyPackages.${i}: credential is for ${kp.identity.user}/${kp.identity.device}, not this device`);
    }
    if (Buffer.compare(Buffer.from(kp.signatureKey), Buffer.from(signatureKey)) !== 0) {
      throw new SealpostError('MLS_ERROR', `keyPackages.${i}: signature key is not this device's key`);
    }
    out.push({ ref: kp.ref, data, suite: kp.suite });
  }
  return out;
}
