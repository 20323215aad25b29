// Policy scim-group-conversations: each SCIM group is followed by an MLS conversation of its members. The server
// cannot add anyone to a conversation (it holds no keys); it sends the group's members an organisation-signed
// statement of who is in the group (protocol admin/group-membership.ts), and a member's device creates the
// conversation or commits the adds and removes that make it follow — the first commit of an epoch wins, as always.
import { ORGANISATION_DEVICE, groupConversationId, newMessageId, parseUserId, signGroupMembership, encodeSignedNotice, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';

export async function publishGroupMembership(ctx: ServerContext, group: string, name: string, members: UserId[], version: number): Promise<void> {
  const signed = await signGroupMembership(ctx.cs.signature, ctx.org.privateKey, { group, name, members, version, issuedAt: ctx.clock.now() });
  const conversation = groupConversationId(group);
  const deliveries = await ctx.store.appendNotice({
    conversation,
    kind: 'group',
    id: newMessageId(),
    payload: encodeSignedNotice(signed),
    users: members,
    sender: { device: ORGANISATION_DEVICE, user: parseUserId(`organisation@${ctx.domain}`) },
    now: ctx.clock.now(),
  });
  ctx.bus.publish(deliveries);
}
