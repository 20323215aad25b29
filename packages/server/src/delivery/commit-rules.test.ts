import { describe, expect, it } from 'vitest';
import { newConversationId, newDeviceId, newMessageId, parseUserId, type DeviceId } from '@sealpost/protocol';
import type { CommitInput } from '../store/store.js';
import { decideCommit, type CommitFacts } from './commit-rules.js';

const sender = newDeviceId();
const other = newDeviceId();
const input = (over: Partial<CommitInput> = {}): CommitInput => ({
  conversation: newConversationId(),
  sender: { device: sender, user: parseUserId('alice@localhost') },
  epoch: 3,
  id: newMessageId(),
  payload: new Uint8Array(1),
  now: 1,
  welcome: undefined,
  add: [],
  remove: [],
  ...over,
});
const facts = (over: Partial<CommitFacts> = {}): CommitFacts => ({
  epoch: 3,
  acceptedAtEpoch: undefined,
  members: new Set<DeviceId>([sender, other]),
  devices: new Map(),
  ...over,
});

describe('the commit rules', () => {
  it('accept the first commit of the epoch and send it to every member but the sender', () => {
    expect(decideCommit(input(), facts())).toEqual({ kind: 'accept', recipients: [other] });
  });
  it('take exactly one commit per epoch: a retry of the winner is a duplicate, anything else a conflict', () => {
    const c = input();
    expect(decideCommit(c, facts({ acceptedAtEpoch: c.id }))).toEqual({ kind: 'ok', epoch: 4, deliveries: [], duplicate: true });
    expect(decideCommit(c, facts({ acceptedAtEpoch: 'other' }))).toEqual({ kind: 'epoch-conflict', epoch: 3 });
    expect(decideCommit(input({ epoch: 2 }), facts())).toEqual({ kind: 'epoch-conflict', epoch: 3 });
  });
  it('check what is removed and added', () => {
    const stranger = newDeviceId();
    expect(decideCommit(input({ remove: [stranger] }), facts())).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/not a member/) });
    expect(decideCommit(input({ remove: [stranger] }), facts({ devices: new Map([[stranger, 'revoked']]) }))).toMatchObject({ kind: 'accept' });
    expect(decideCommit(input({ remove: [sender] }), facts())).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/cannot remove itself/) });
    expect(decideCommit(input({ add: [other], welcome: new Uint8Array(1) }), facts())).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/already a member/) });
    expect(decideCommit(input({ add: [stranger], welcome: new Uint8Array(1) }), facts())).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/unknown or revoked/) });
    expect(decideCommit(input({ add: [stranger] }), facts({ devices: new Map([[stranger, 'active']]) }))).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/needs a Welcome/) });
    expect(decideCommit(input({ add: [stranger], welcome: new Uint8Array(1) }), facts({ devices: new Map([[stranger, 'active']]) }))).toMatchObject({ kind: 'accept' });
  });
});
