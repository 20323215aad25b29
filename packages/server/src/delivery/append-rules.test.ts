import { expect, it } from 'vitest';
import { newConversationId, newDeviceId, newMessageId, parseUserId, type BlobId } from '@sealpost/protocol';
import { decideAppend, type AppendFacts } from './append-rules.js';

const input = { conversation: newConversationId(), sender: { device: newDeviceId(), user: parseUserId('a@localhost') }, epoch: 2, id: newMessageId(), payload: new Uint8Array(1), now: 1 };
const facts = (over: Partial<AppendFacts> = {}): AppendFacts => ({ epoch: 2, member: true, stored: false, unusableBlob: undefined, ...over });

it('the application-message rules, in the order the answers are given', () => {
  expect(decideAppend(input, facts())).toEqual({ kind: 'accept', epoch: 2 });
  expect(decideAppend(input, facts({ epoch: undefined }))).toEqual({ kind: 'not-found' });
  expect(decideAppend(input, facts({ member: false, stored: true }))).toEqual({ kind: 'not-member' });
  // A retry is acknowledged again even when a commit has moved the epoch on since.
  expect(decideAppend(input, facts({ stored: true, epoch: 3 }))).toEqual({ kind: 'ok', epoch: 3, deliveries: [], duplicate: true });
  expect(decideAppend(input, facts({ epoch: 3 }))).toEqual({ kind: 'epoch-conflict', epoch: 3 });
  expect(decideAppend(input, facts({ unusableBlob: 'b_X' as BlobId }))).toEqual({ kind: 'blob-not-found', blob: 'b_X' });
});
