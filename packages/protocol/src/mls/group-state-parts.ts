// Group state saved in parts: what changes with every message (one secret-tree node per sender, RFC 9420 §9) apart
// from what changes once per epoch (tree, key schedule, everything else). Saving a message in a 1,000-member group
// then writes one small node instead of re-encoding megabytes. Knows ts-mls's GroupState layout; nothing else may.
import { decodeGroupState, encodeGroupState, type ClientConfig, type ClientState, type GroupState as TsGroupState } from 'ts-mls';
import { decodeSecretTreeNode, secretTreeNodeEncoder, type SecretTreeNode } from 'ts-mls/secretTree.js';
import { encode } from 'ts-mls/codec/tlsEncoder.js';
import { SealpostError } from '../errors.js';

/** Opaque MLS group state (a ts-mls ClientState). Only the mls/ modules look inside. */
export type GroupState = ClientState & { readonly __opaque?: 'GroupState' };

export interface StateParts {
  /** Everything but the secret tree. */
  base: Uint8Array;
  /** The secret tree, one encoded node per index. */
  secrets: Uint8Array[];
}

export type StateChange =
  | { kind: 'none' }
  /** Only these secret-tree nodes changed (a message was sent or received in the current epoch). */
  | { kind: 'secrets'; changed: { index: number; bytes: Uint8Array }[] }
  /** Anything else changed: save all parts. */
  | { kind: 'full'; parts: StateParts };

const encodeNode = encode(secretTreeNodeEncoder);

export function splitState(state: GroupState): StateParts {
  return { base: encodeGroupState({ ...state, secretTree: [] }), secrets: state.secretTree.map((n) => encodeNode(n)) };
}

export function joinState(parts: StateParts, clientConfig: ClientConfig): GroupState {
  const decoded = decodeGroupState(parts.base, 0);
  if (!decoded) throw new SealpostError('MLS_ERROR', 'group state: cannot decode');
  const secretTree: SecretTreeNode[] = parts.secrets.map((b, i) => {
    const node = decodeSecretTreeNode(b, 0);
    if (!node) throw new SealpostError('MLS_ERROR', `group state: cannot decode secret tree node ${i}`);
    return node[0];
  });
  return { ...(decoded[0] as TsGroupState), secretTree, clientConfig };
}

const perEpochFields = [
  'groupContext',
  'keySchedule',
  'ratchetTree',
  'privatePath',
  'signaturePrivateKey',
  'unappliedProposals',
  'confirmationTag',
  'historicalReceiverData',
  'groupActiveState',
] as const;

/**
 * What changed between two states, by reference: ts-mls states are immutable, so an untouched field or node is the
 * same object in both.
 */
export function stateChange(before: GroupState, after: GroupState): StateChange {
  if (perEpochFields.some((f) => before[f] !== after[f]) || before.secretTree.length !== after.secretTree.length) {
    return { kind: 'full', parts: splitState(after) };
  }
  const changed: { index: number; bytes: Uint8Array }[] = [];
  after.secretTree.forEach((node, index) => {
    if (node !== before.secretTree[index]) changed.push({ index, bytes: encodeNode(node) });
  });
  return changed.length === 0 ? { kind: 'none' } : { kind: 'secrets', changed };
}
