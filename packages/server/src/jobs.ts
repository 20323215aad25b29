// The node's timers, in one place: key-transparency epochs (every ktEpochMs), the retention sweep (every minute),
// and the sweep of stale uploads and expired link requests (every ten minutes). None keeps the process alive.
import { defaultBlobLimits, type ServerContext } from './context.js';
import { applyRetention } from './admin/retention.js';
import { sweepStaleUploads } from './http/blob-routes.js';
import type { KtLog } from './kt/kt-log.js';

/** Start the node's jobs; returns what stops them. */
export function startJobs(ctx: ServerContext, kt: KtLog): () => void {
  // Epochs: on a timer, and at once (at most every 50 ms) when a search asks for a label that just changed (kt-log.ts).
  let publishing = false;
  const epochs = setInterval(() => {
    if (publishing) return;
    publishing = true;
    kt.publish()
      .catch((err) => ctx.log.error({ err }, 'kt: publishing an epoch failed'))
      .finally(() => (publishing = false));
  }, ctx.ktEpochMs);
  const sweeper = setInterval(() => {
    sweepStaleUploads(ctx, ctx.clock.now() - defaultBlobLimits.staleUploadMs).catch((err) => ctx.log.error({ err }, 'stale upload sweep failed'));
    ctx.store.deleteExpiredLinks(ctx.clock.now()).catch((err) => ctx.log.error({ err }, 'link sweep failed'));
  }, 10 * 60_000);
  const retention = setInterval(() => {
    applyRetention(ctx).catch((err) => ctx.log.error({ err }, 'retention sweep failed'));
  }, 60_000);
  for (const t of [epochs, sweeper, retention]) t.unref();
  return () => {
    for (const t of [epochs, sweeper, retention]) clearInterval(t);
  };
}
