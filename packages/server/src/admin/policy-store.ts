// The organisation policy as the server keeps it: one JSON value in the store's meta table, defaults for
// anything never set, validated as a whole on every change.
import { DEFAULT_KEY_CHANGE_CONTEST_MS, SealpostError, checkPolicy, type Policy } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';

const META_KEY = 'policy';

export function defaultPolicy(ctx: Pick<ServerContext, 'maxBlobBytes' | 'activationTtlMs'>): Policy {
  return {
    maxDevicesPerUser: 10,
    retentionDefaultMs: null,
    retentionMaxMs: null,
    maxAttachmentBytes: ctx.maxBlobBytes,
    requirePassphrase: false,
    activationCodeTtlMs: ctx.activationTtlMs,
    ktAuditors: [],
    ktMinAuditorSignatures: 0,
    keyUpdateIntervalMs: 7 * 24 * 60 * 60_000,
    keyChangeContestMs: DEFAULT_KEY_CHANGE_CONTEST_MS,
    outsideMail: 'tls-allowed',
    outsideMailPerDay: 500,
    ssoIssuer: null,
    ssoClientId: null,
    scimDeactivateWipe: false,
    scimGroupConversations: false,
    // New conversations are post-quantum by default: docs/post-quantum.md has the measured cost that decided it.
    conversationSuite: 'pq-hybrid',
  };
}

export async function getPolicy(ctx: ServerContext): Promise<Policy> {
  const raw = await ctx.store.getMeta(META_KEY);
  if (!raw) return defaultPolicy(ctx);
  return checkPolicy({ ...defaultPolicy(ctx), ...(JSON.parse(raw) as Partial<Policy>) });
}

/** Merges a change into the current policy; throws POLICY_INVALID (and stores nothing) if the result breaks a rule. */
export async function changePolicy(ctx: ServerContext, change: Partial<Policy>): Promise<Policy> {
  const next = checkPolicy({ ...(await getPolicy(ctx)), ...change });
  // A policy cannot promise more than the server takes: files above --max-file-size are refused whatever it says.
  if (next.maxAttachmentBytes > ctx.maxBlobBytes) {
    throw new SealpostError('POLICY_INVALID', `policy max-attachment-size: this server takes files up to ${ctx.maxBlobBytes} bytes (--max-file-size); set it no higher`);
  }
  await ctx.store.setMeta(META_KEY, JSON.stringify(next));
  return next;
}
