// Fuzz targets: every decoder that reads bytes from the network, a file or another user. Each takes any bytes and
// must either return or throw a SealpostError (a stable code); anything else — a TypeError, a RangeError, a hang,
// time more than linear in the input — is a finding. Seeds are in corpus/<name>/ (scripts/make-fuzz-corpus.mjs).
import {
  GroupEngine,
  SealpostError,
  decodeAccountRecord,
  decodeLegalHold,
  decodeGroupMembership,
  decodeSignedNotice,
  decodeKtRestart,
  decodeIntakeRecord,
  decodeSealedIntake,
  decodeCbor,
  decodeClientFrame,
  decodeContent,
  decodeConversationInfo,
  decodeDeviceList,
  decodeLinkBundle,
  decodeMonitorResponse,
  decodeOrgCommand,
  decodeSearchResponse,
  decodeServerFrame,
  readKeyPackage,
  verifyDeviceList,
} from '@sealpost/protocol';
import { nodeCiphersuite } from '@sealpost/crypto';
import { openChunk } from '../../packages/client/src/file-cipher.node.js';
import { parseStructure } from '../../packages/cli/src/bridge/mime-structure.js';
import { ArchiveLog } from '../../packages/cli/src/archive/archive-log.js';
import { bodyStructure, envelopeFromHeader } from '../../packages/cli/src/bridge/imap-format.js';
import { CommandReader, ImapSyntaxError, parseFetchItems, parseSearch, readCommand, type RawCommand } from '../../packages/cli/src/bridge/imap-parser.js';

export interface FuzzTarget {
  name: string;
  /** Decode `bytes`; throwing a SealpostError is a clean refusal. */
  run(bytes: Uint8Array): unknown;
}

const cs = nodeCiphersuite();
// Decoding only: no credential is ever accepted.
const engine = await GroupEngine.create(async () => false, cs);
const fileKey = new Uint8Array(32).fill(9);
const zeroSignature = { signature: new Uint8Array(64) };

/** Refusals through our error type are fine; a throw of anything else escapes the property and is reported. */
async function refusedCleanly(run: () => unknown): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (!(err instanceof SealpostError)) throw err;
  }
}

export const targets: FuzzTarget[] = [
  { name: 'cbor', run: (b) => decodeCbor(b, 2 * 1024 * 1024, 'fuzz') },
  { name: 'client-frame', run: decodeClientFrame },
  { name: 'server-frame', run: decodeServerFrame },
  {
    name: 'content',
    run: async (b) => {
      await refusedCleanly(() => decodeConversationInfo(b));
      return decodeContent(b);
    },
  },
  {
    name: 'device-list',
    run: async (b) => {
      await refusedCleanly(() => decodeDeviceList(b));
      // Verification decodes too, and must answer with a verdict, never throw.
      const v = await verifyDeviceList(cs.signature, { body: b, ...zeroSignature }, { user: 'alice@localhost' as never });
      if (v.kind === 'ok') throw new Error('a zero signature verified');
    },
  },
  { name: 'account-record', run: decodeAccountRecord },
  { name: 'legal-hold', run: decodeLegalHold },
  { name: 'group-membership', run: (b) => { const s = decodeSignedNotice(b); if (s) decodeGroupMembership(s.body); } },
  { name: 'kt-restart', run: decodeKtRestart },
  { name: 'kt-search', run: decodeSearchResponse },
  { name: 'kt-monitor', run: decodeMonitorResponse },
  { name: 'org-command', run: decodeOrgCommand },
  { name: 'link-bundle', run: decodeLinkBundle },
  { name: 'key-package', run: (b) => readKeyPackage(cs, b) },
  {
    name: 'mls-message',
    run: async (b) => {
      await refusedCleanly(() => engine.welcomeRefs(b));
      return engine.messageEpoch(b);
    },
  },
  { name: 'file-chunk', run: (b) => openChunk(fileKey, 0, true, b) },
  { name: 'intake-record', run: decodeIntakeRecord },
  { name: 'intake-sealed', run: decodeSealedIntake },
  {
    // The bridge's IMAP command reader and grammar: bytes from a local mail program. ImapSyntaxError is its refusal.
    name: 'imap-command',
    run: (b) => {
      const commands: RawCommand[] = [];
      const reader = new CommandReader((raw) => commands.push(raw), () => {}, () => {});
      reader.push(Buffer.from(b));
      reader.push(Buffer.from('\r\n'));
      for (const raw of commands) {
        const cmd = readCommand(raw);
        if ('error' in cmd) continue;
        try {
          if (cmd.name.endsWith('FETCH')) parseFetchItems(cmd.args[1]);
          if (cmd.name.endsWith('SEARCH')) parseSearch(cmd.args);
        } catch (err) {
          if (!(err instanceof ImapSyntaxError)) throw err;
        }
      }
    },
  },
  {
    // The legal-hold archive's hash-chained log, as read back from its file (a changed file is refused, never believed).
    name: 'archive-log',
    run: (b) => ArchiveLog.read('/nonexistent/archive.log', Buffer.from(b).toString('utf8').split('\n').filter((l) => l.length > 0)),
  },
  {
    // The MIME structure of a draft a mail program APPENDs to the bridge, and the answers made from it: never refuses.
    name: 'mime-structure',
    run: (b) => {
      const root = parseStructure(Buffer.from(b));
      bodyStructure(root, true);
      envelopeFromHeader(root.header);
    },
  },
];
