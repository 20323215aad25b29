// Server-side retention: stored ciphertext and blobs older than the policy's maximum are deleted (clients delete
// their own history; the server never had plaintext to delete).
import type { ServerContext } from '../context.js';
import { getPolicy } from './policy-store.js';

export async function applyRetention(ctx: ServerContext): Promise<{ messages: number; blobs: number }> {
  const policy = await getPolicy(ctx);
  if (policy.retentionMaxMs === null) return { messages: 0, blobs: 0 };
  const res = await ctx.store.deleteOlderThan(ctx.clock.now() - policy.retentionMaxMs);
  for (const id of res.blobs) await ctx.blobs.delete(id).catch((err) => ctx.log.error({ err, blob: id }, 'retention: could not delete a blob file'));
  if (res.messages > 0 || res.blobs.length > 0) ctx.log.info({ messages: res.messages, blobs: res.blobs.length }, 'retention: deleted expired ciphertext');
  return { messages: res.messages, blobs: res.blobs.length };
}
