// GroupEngine: Sealpost's only door to MLS (RFC 9420). Wraps ts-mls 1.6.4 so that a later move to another MLS
// library touches this module alone. Pure state transitions: every operation returns the new state; the caller
// persists it (with the message it belongs to) before anything is sent.
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroupWithExtensions,
  processPrivateMessage,
  processPublicMessage,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type IncomingMessageCallback,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { readKeyPackage, type ReadKeyPackage, type SuiteImpls } from './key-package.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { addToMap } from 'ts-mls/util/addToMap.js';
import { SealpostError } from '../errors.js';
import { toBase64Url, utf8 } from '../bytes.js';
import { decodeCbor, encodeCbor } from '../codec.js';
import { limits } from '../limits.js';
import type { ConversationId, DeviceId } from '../ids.js';
import { credentialFor, identityOf, type DeviceIdentity } from './credential.js';
import { defaultCiphersuite, stockCiphersuite, suiteOfMls, type SuiteName } from './ciphersuite.js';
import { joinState, splitState, stateChange, type GroupState, type StateChange, type StateParts } from './group-state-parts.js';

export type { GroupState } from './group-state-parts.js';

/**
 * Decides whether a leaf may be in a group: Sealpost accepts a leaf only if its signature key is in that user's
 * account-signed device list (design.md). Injected, because finding and verifying device lists needs I/O.
 */
export type CredentialCheck = (identity: DeviceIdentity, signatureKey: Uint8Array) => Promise<boolean>;

export interface SignatureKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export interface KeyPackageBundle {
  /** The MLS KeyPackage message (public; uploaded to the server). */
  publicBytes: Uint8Array;
  /** The private parts, kept only on the device. */
  privateBytes: Uint8Array;
  /** KeyPackageRef (RFC 9420 §5.2), base64url. */
  ref: string;
}

export interface GroupMember extends DeviceIdentity {
  leafIndex: number;
  signatureKey: Uint8Array;
}

export type Processed =
  | { kind: 'application'; state: GroupState; plaintext: Uint8Array; sender: DeviceIdentity }
  | {
      kind: 'commit';
      state: GroupState;
      committer: DeviceIdentity | undefined;
      added: DeviceIdentity[];
      removed: DeviceIdentity[];
      selfRemoved: boolean;
    };

/** Our private-use GroupInfo extension carrying the (encrypted) conversation info to joiners. RFC 9420 §17.3. */
const CONVERSATION_INFO_EXTENSION = 0xf5a1;

export class GroupEngine {
  private readonly config: ClientConfig;

  private readonly suiteImpls = new Map<SuiteName, Promise<CiphersuiteImpl>>();

  private constructor(
    /** The classic suite's implementation; its Ed25519 signatures serve every suite. */
    readonly cs: CiphersuiteImpl,
    checkCredential: CredentialCheck,
    private readonly impls: SuiteImpls,
  ) {
    this.config = {
      ...defaultClientConfig,
      authService: {
        async validateCredential(credential, signaturePublicKey) {
          let identity: DeviceIdentity;
          try {
            identity = identityOf(credential);
          } catch {
            return false;
          }
          return checkCredential(identity, signaturePublicKey);
        },
      },
    };
  }

  /**
   * `cs` is the crypto for the classic suite: in Node pass `nodeCiphersuite()` from @sealpost/crypto (node:crypto,
   * many times faster); without it ts-mls's default (WebCrypto) provider is used, as in browsers. `impls` gives the
   * other suites (pq-hybrid), the stock provider's when not given.
   */
  static async create(checkCredential: CredentialCheck, cs?: CiphersuiteImpl, impls?: SuiteImpls): Promise<GroupEngine> {
    return new GroupEngine(cs ?? (await defaultCiphersuite()), checkCredential, impls ?? stockCiphersuite);
  }

  /** The implementation of a suite (made once). */
  impl(suite: SuiteName): Promise<CiphersuiteImpl> {
    if (suite === 'classic') return Promise.resolve(this.cs);
    let p = this.suiteImpls.get(suite);
    if (!p) {
      p = this.impls(suite);
      this.suiteImpls.set(suite, p);
    }
    return p;
  }

  /** A group's suite, fixed for its life (its GroupContext says it). */
  suiteOf(state: GroupState): SuiteName {
    return suiteOfMls(state.groupContext.cipherSuite);
  }

  private implOf(state: GroupState): Promise<CiphersuiteImpl> {
    return this.impl(this.suiteOf(state));
  }

  async generateSignatureKeyPair(): Promise<SignatureKeyPair> {
    const { publicKey, signKey } = await this.cs.signature.keygen();
    return { publicKey, privateKey: signKey };
  }

  async createKeyPackage(identity: DeviceIdentity, keys: SignatureKeyPair, suite: SuiteName = 'classic'): Promise<KeyPackageBundle> {
    const cs = await this.impl(suite);
    const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
      credentialFor(identity),
      defaultCapabilities(),
      defaultLifetime,
      [],
      { signKey: keys.privateKey, publicKey: keys.publicKey },
      cs,
    );
    return {
      publicBytes: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }),
      privateBytes: encodeCbor([privatePackage.initPrivateKey, privatePackage.hpkePrivateKey, privatePackage.signaturePrivateKey]),
      ref: toBase64Url(await makeKeyPackageRef(publicPackage, cs.hash)),
    };
  }

  /** Decode and check a KeyPackage (see key-package.ts). */
  readKeyPackage(bytes: Uint8Array): Promise<ReadKeyPackage> {
    return readKeyPackage(this.cs, bytes, (s) => this.impl(s));
  }

  async createGroup(conversation: ConversationId, identity: DeviceIdentity, keys: SignatureKeyPair, suite: SuiteName = 'classic'): Promise<GroupState> {
    const bundle = await this.createKeyPackage(identity, keys, suite);
    const kp = (await this.readKeyPackage(bundle.publicBytes)).keyPackage;
    return createGroup(utf8(conversation), kp, decodePrivate(bundle.privateBytes), [], await this.impl(suite), this.config);
  }

  encodeState(state: GroupState): Uint8Array {
    return encodeGroupState(state);
  }

  /** The state in parts, for saving incrementally (see group-state-parts.ts). */
  splitState(state: GroupState): StateParts {
    return splitState(state);
  }

  joinState(parts: StateParts): GroupState {
    return joinState(parts, this.config);
  }

  /** What to save after an operation turned `before` into `after`. */
  stateChange(before: GroupState, after: GroupState): StateChange {
    return stateChange(before, after);
  }

  decodeState(bytes: Uint8Array): GroupState {
    const decoded = decodeGroupState(bytes, 0);
    if (!decoded) throw new SealpostError('MLS_ERROR', 'group state: cannot decode');
    return { ...decoded[0], clientConfig: this.config };
  }

  epoch(state: GroupState): number {
    return Number(state.groupContext.epoch);
  }

  isActive(state: GroupState): boolean {
    return state.groupActiveState.kind === 'active';
  }

  ownLeafIndex(state: GroupState): number {
    return state.privatePath.leafIndex;
  }

  members(state: GroupState): GroupMember[] {
    const out: GroupMember[] = [];
    state.ratchetTree.forEach((node, i) => {
      if (node?.nodeType !== 'leaf') return;
      const identity = identityOf(node.leaf.credential);
      out.push({ ...identity, leafIndex: i / 2, signatureKey: node.leaf.signaturePublicKey });
    });
    return out;
  }

  async encrypt(state: GroupState, plaintext: Uint8Array): Promise<{ state: GroupState; message: Uint8Array }> {
    const cs = await this.implOf(state);
    const result = await wrap(() => createApplicationMessage(state, plaintext, cs));
    return {
      state: result.newState,
      message: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: result.privateMessage }),
    };
  }

  /**
   * Commit adds (claimed KeyPackage messages) and removals (device ids) in one commit.
   * Always carries an update path (RFC 9420 §12.4: ts-mls 1.6.4 omits it for extension-only commits).
   */
  async commit(
    state: GroupState,
    change: { add?: Uint8Array[]; removeDevices?: DeviceId[]; conversationInfo?: Uint8Array },
  ): Promise<{ state: GroupState; commit: Uint8Array; welcome: Uint8Array | undefined }> {
    const proposals: Proposal[] = [];
    const suite = this.suiteOf(state);
    const cs = await this.impl(suite);
    for (const bytes of change.add ?? []) {
      const read = await this.readKeyPackage(bytes);
      // A conversation keeps its suite for life: a KeyPackage of another (a downgrade, or a device without it) is refused.
      if (read.suite !== suite) {
        throw new SealpostError('SUITE_UNSUPPORTED', `a ${read.suite} KeyPackage of ${read.identity.user}'s device ${read.identity.device} cannot join a ${suite} conversation`);
      }
      proposals.push({ proposalType: 'add', add: { keyPackage: read.keyPackage } });
    }
    const removing = new Set<string>(change.removeDevices ?? []);
    for (const m of this.members(state)) {
      if (removing.has(m.device)) proposals.push({ proposalType: 'remove', remove: { removed: m.leafIndex } });
    }
    const hasAdds = proposals.some((p) => p.proposalType === 'add');
    const result = await wrap(() =>
      createCommit(
        { state, cipherSuite: cs },
        {
          extraProposals: proposals,
          ratchetTreeExtension: true,
          groupInfoExtensions:
            hasAdds && change.conversationInfo
              ? [{ extensionType: CONVERSATION_INFO_EXTENSION, extensionData: change.conversationInfo }]
              : [],
        },
      ),
    );
    const welcome = result.welcome
      ? encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome })
      : undefined;
    return { state: result.newState, commit: encodeMlsMessage(result.commit), welcome };
  }

  /** KeyPackageRefs a Welcome is addressed to (RFC 9420 §12.4.3.1), so a device finds its private KeyPackage. */
  welcomeRefs(welcomeBytes: Uint8Array): string[] {
    const msg = decodeMessage(welcomeBytes, limits.maxMlsMessageBytes, 'welcome');
    if (msg.wireformat !== 'mls_welcome') throw new SealpostError('MLS_ERROR', 'welcome: not a Welcome message');
    return msg.welcome.secrets.map((s) => toBase64Url(s.newMember));
  }

  async join(
    welcomeBytes: Uint8Array,
    keyPackage: { publicBytes: Uint8Array; privateBytes: Uint8Array },
  ): Promise<{ state: GroupState; conversationInfo: Uint8Array | undefined }> {
    const msg = decodeMessage(welcomeBytes, limits.maxMlsMessageBytes, 'welcome');
    if (msg.wireformat !== 'mls_welcome') throw new SealpostError('MLS_ERROR', 'welcome: not a Welcome message');
    const read = await this.readKeyPackage(keyPackage.publicBytes);
    const suite = suiteOfMls(msg.welcome.cipherSuite);
    if (read.suite !== suite) throw new SealpostError('SUITE_UNSUPPORTED', `welcome: a ${suite} Welcome for a ${read.suite} KeyPackage`);
    const cs = await this.impl(suite);
    const [state, extensions] = await wrap(() =>
      joinGroupWithExtensions(msg.welcome, read.keyPackage, decodePrivate(keyPackage.privateBytes), emptyPskIndex, cs, undefined, undefined, this.config),
    );
    if (this.suiteOf(state) !== suite) throw new SealpostError('MLS_ERROR', 'welcome: the group is of another suite than the Welcome says');
    const info = extensions.find((e) => e.extensionType === CONVERSATION_INFO_EXTENSION)?.extensionData;
    return { state, conversationInfo: info };
  }

  /** Which epoch a handshake or application message belongs to, without decrypting it. */
  messageEpoch(bytes: Uint8Array): number {
    const msg = decodeMessage(bytes, limits.maxMlsMessageBytes, 'message');
    if (msg.wireformat === 'mls_private_message') return Number(msg.privateMessage.epoch);
    if (msg.wireformat === 'mls_public_message') return Number(msg.publicMessage.content.epoch);
    throw new SealpostError('MLS_ERROR', `message: unexpected wire format ${msg.wireformat}`);
  }

  /** Process one received commit or application message. */
  async process(state: GroupState, bytes: Uint8Array): Promise<Processed> {
    const msg = decodeMessage(bytes, limits.maxMlsMessageBytes, 'message');
    const cs = await this.implOf(state);
    if (msg.wireformat === 'mls_private_message') {
      const pm = msg.privateMessage;
      // Peek first: ts-mls does not return the sender of an application message, which we must show and check.
      const current = pm.epoch === state.groupContext.epoch;
      const receiver = current ? undefined : state.historicalReceiverData.get(pm.epoch);
      if (!current && receiver === undefined) {
        throw new SealpostError('DECRYPT_FAILED', `message: epoch ${pm.epoch} is not available (group is at ${state.groupContext.epoch})`);
      }
      const src = receiver ?? {
        senderDataSecret: state.keySchedule.senderDataSecret,
        secretTree: state.secretTree,
        ratchetTree: state.ratchetTree,
        groupContext: state.groupContext,
      };
      const peeked = await wrap(
        () => unprotectPrivateMessage(src.senderDataSecret, pm, src.secretTree, src.ratchetTree, src.groupContext, state.clientConfig.keyRetentionConfig, cs),
        'DECRYPT_FAILED',
      );
      const content = peeked.content.content;
      if (content.contentType === 'application') {
        if (content.sender.senderType !== 'member') throw new SealpostError('MLS_ERROR', 'message: application data from a non-member');
        const leaf = src.ratchetTree[content.sender.leafIndex * 2];
        if (leaf?.nodeType !== 'leaf') throw new SealpostError('MLS_ERROR', 'message: sender leaf is blank');
        // Same state update as ts-mls processPrivateMessage performs for application data.
        const newState: GroupState = receiver
          ? { ...state, historicalReceiverData: addToMap(state.historicalReceiverData, pm.epoch, { ...receiver, secretTree: peeked.tree }) }
          : { ...state, secretTree: peeked.tree };
        return { kind: 'application', state: newState, plaintext: content.applicationData, sender: identityOf(leaf.leaf.credential) };
      }
      if (!current) throw new SealpostError('MLS_ERROR', 'message: handshake from a former epoch');
      return this.processHandshake(state, (cb) => processPrivateMessage(state, pm, emptyPskIndex, cs, cb));
    }
    if (msg.wireformat === 'mls_public_message') {
      const pub = msg.publicMessage;
      return this.processHandshake(state, async (cb) => ({ kind: 'newState' as const, ...(await processPublicMessage(state, pub, emptyPskIndex, cs, cb)) }));
    }
    throw new SealpostError('MLS_ERROR', `message: unexpected wire format ${msg.wireformat}`);
  }

  private async processHandshake(
    state: GroupState,
    run: (cb: IncomingMessageCallback) => Promise<{ kind: string; newState: ClientState; actionTaken?: string }>,
  ): Promise<Processed> {
    const before = this.members(state);
    let committerLeaf: number | undefined;
    const added: DeviceIdentity[] = [];
    const removed: DeviceIdentity[] = [];
    const callback: IncomingMessageCallback = (incoming) => {
      if (incoming.kind !== 'commit') return 'reject'; // standalone proposals are not used by Sealpost clients yet
      committerLeaf = incoming.senderLeafIndex;
      // Sealpost commits add and remove members (and renew the committer's path). Anything else — a ReInit that
      // would move the group to another suite, new group extensions — is refused.
      if (incoming.proposals.some((p) => p.proposal.proposalType !== 'add' && p.proposal.proposalType !== 'remove')) return 'reject';
      for (const p of incoming.proposals) {
        if (p.proposal.proposalType === 'add') added.push(identityOf(p.proposal.add.keyPackage.leafNode.credential));
        if (p.proposal.proposalType === 'remove') {
          const gone = before.find((m) => m.leafIndex === (p.proposal as { remove: { removed: number } }).remove.removed);
          if (gone) removed.push({ user: gone.user, device: gone.device });
        }
      }
      return 'accept';
    };
    const result = await wrap(() => run(callback));
    if (result.kind !== 'newState' || result.actionTaken === 'reject') {
      throw new SealpostError('MLS_ERROR', 'message: not a commit');
    }
    const committer = before.find((m) => m.leafIndex === committerLeaf);
    return {
      kind: 'commit',
      state: result.newState,
      committer: committer ? { user: committer.user, device: committer.device } : undefined,
      added,
      removed,
      selfRemoved: result.newState.groupActiveState.kind === 'removedFromGroup',
    };
  }
}

function decodeMessage(bytes: Uint8Array, maxSize: number, where: string): MLSMessage {
  if (bytes.length > maxSize) throw new SealpostError('PAYLOAD_TOO_LARGE', `${where}: length ${bytes.length} > ${maxSize}`);
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (err) {
    throw new SealpostError('MLS_ERROR', `${where}: cannot decode MLS message (${(err as Error).message})`);
  }
  if (!decoded || decoded[1] !== bytes.length) throw new SealpostError('MLS_ERROR', `${where}: cannot decode MLS message`);
  return decoded[0];
}

function decodePrivate(bytes: Uint8Array): PrivateKeyPackage {
  const v = decodeCbor(bytes, 4096, 'keyPackage.private');
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => x instanceof Uint8Array)) {
    throw new SealpostError('MLS_ERROR', 'keyPackage.private: malformed');
  }
  const [initPrivateKey, hpkePrivateKey, signaturePrivateKey] = v as [Uint8Array, Uint8Array, Uint8Array];
  return { initPrivateKey, hpkePrivateKey, signaturePrivateKey };
}

async function wrap<T>(fn: () => Promise<T>, code: 'MLS_ERROR' | 'DECRYPT_FAILED' = 'MLS_ERROR'): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SealpostError) throw err;
    throw new SealpostError(code, `MLS: ${(err as Error).message}`, { cause: err });
  }
}
