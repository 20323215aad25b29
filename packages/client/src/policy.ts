// Applying the organisation's policy on the device: retention of local history, and post-compromise key updates.
import { forgetOutsideAttachments } from './outside-mail.js';
import { derivedMailKey } from './mail.js';
import { limits, type BlobId } from '@sealpost/protocol';
import type { ServerInfo } from './types.js';
import { ClientCore, ClientPart } from './core/client-core.js';
import type { Membership } from './membership.js';
import { fetchServerInfo } from './server-info.js';

/** What a server that names no key-update interval gets (the server's own default). */
const DEFAULT_KEY_UPDATE_INTERVAL_MS = 7 * 24 * 60 * 60_000;

/** The organisation's policy, as far as a device applies it itself: local retention and scheduled key updates. */
export class PolicyApplier extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly membership: Membership,
  ) {
    super(core);
  }

  /** Fetch the policy the server publishes; keep it; apply what only the client can (local retention). */
  async applyPolicy(): Promise<void> {
    const info = await fetchServerInfo(this.server).catch(() => undefined);
    if (info) this.core.rememberServerInfo(info);
    const policy = JSON.parse(this.store.getMetaText('policy') ?? '{}') as Partial<ServerInfo['policy']>;
    const limits = [policy.retentionDefaultMs, policy.retentionMaxMs].filter((v): v is number => typeof v === 'number');
    if (limits.length > 0) {
      const before = Date.now() - Math.min(...limits);
      // Attachments of outside mail are kept beside the message: they go with it.
      for (const m of this.store.listMail()) {
        if (m.sentAt >= before) continue;
        forgetOutsideAttachments(this.store, m.content);
        this.store.setMeta(derivedMailKey(m.id), new Uint8Array(0));
      }
      const orphans = this.store.deleteMessagesBefore(before);
      for (const blob of orphans) await this.files.release(blob as BlobId).catch(() => {});
    }
    // Post-compromise healing on a schedule: a device whose keys leaked is safe again once it commits fresh ones.
    // An older server that sends no interval gets the default week.
    const interval = policy.keyUpdateIntervalMs === undefined ? DEFAULT_KEY_UPDATE_INTERVAL_MS : policy.keyUpdateIntervalMs;
    if (interval !== null) await this.membership.updateKeys((c) => Date.now() - (this.store.keyUpdatedAt(c.id) ?? c.createdAt) >= interval);
  }
}
