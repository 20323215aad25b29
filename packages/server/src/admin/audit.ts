// Recording admin actions in the hash-linked audit log (protocol/admin/audit-log.ts).
import type { AuditDetails } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';

export async function audit(ctx: ServerContext, actor: string, action: string, target: string, details: AuditDetails = {}): Promise<void> {
  await ctx.store.appendAudit({ at: ctx.clock.now(), actor, action, target, details });
}
