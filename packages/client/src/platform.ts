// What a client needs from the runtime it runs in, as one interface: the profile store, the MLS crypto, the
// WebSocket, and encrypted file transfer. Node (platform.node.ts: SQLite, node:crypto, `ws`, files by path) and the
// browser (packages/web: IndexedDB, WebCrypto, the global WebSocket, File objects and streams) each implement it;
// everything else in this package is the same code in both.
import type { BlobId, FileRef, SuiteName } from '@sealpost/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import type { HttpApi } from './http-api.js';
import type { ProfileStorage } from './profile-storage.js';
import type { WebSocketFactory } from './socket.js';

export type Progress = (done: number, total: number) => void;

/** A file the user picked in a browser (the DOM `File`, structurally). */
export interface PickedFile {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly lastModified: number;
  stream(): ReadableStream<Uint8Array>;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** What to send: a path in Node, a picked file in a browser. */
export type FileSource = string | PickedFile;

/** Where a download goes: a path in Node, a writable stream (a file on disk, never the whole file in memory) in a browser. */
export type FileTarget = string | WritableStream<Uint8Array>;

export interface UploadResult {
  ref: FileRef;
  /** Plaintext bytes that an earlier, interrupted attempt had already uploaded. */
  resumedBytes: number;
}

/** Encrypted upload and download of blobs (format: protocol/files/file-format.ts). */
export interface FileTransferPort {
  /** The file can be sent (exists, readable): checked before anything is uploaded. */
  checkReadable(source: FileSource): Promise<{ size: number }>;
  upload(source: FileSource, opts?: { name?: string; type?: string; onProgress?: Progress }): Promise<UploadResult>;
  /** Download, verify the hash and decrypt into `out`; nothing is left behind when it fails. A file already at a path is replaced only with `overwrite`. */
  download(ref: FileRef, out: FileTarget, opts?: { onProgress?: Progress; overwrite?: boolean }): Promise<void>;
  release(blob: BlobId): Promise<void>;
  /** Write bytes this device already holds (an outside mail's attachment) to `out`, like a download. */
  saveBytes(bytes: Uint8Array, out: FileTarget, opts?: { overwrite?: boolean }): Promise<void>;
}

export interface OpenProfileOptions {
  /** Make a new, empty profile (enroll/link); without it, an existing one must be there. */
  create: boolean;
  passphrase?: string;
}

/** Headers of a message the device builds for outside recipients. */
export interface MimeHeaders {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  messageId: string;
  date: Date;
  inReplyTo?: string;
  references?: string[];
  /** The Autocrypt header's value (Autocrypt Level 1 §2.1). */
  autocrypt: string;
}

/** Builds RFC 5322 messages (a well-kept MIME composer; nodemailer's in Node). */
export interface MimeComposer {
  compose(m: MimeHeaders & { text: string; html?: string }): Promise<Uint8Array>;
  /** RFC 3156 §4: multipart/encrypted around an armored OpenPGP message. */
  composeEncrypted(m: MimeHeaders & { armored: string }): Promise<Uint8Array>;
}

export interface ClientPlatform {
  /** The classic MLS suite's crypto: undefined takes ts-mls's own provider (WebCrypto + @noble, behind our Ed25519 policy). */
  ciphersuite(): CiphersuiteImpl | undefined;
  /** Other suites' crypto (pq-hybrid); absent takes ts-mls's own provider for them too. */
  suiteImpl?: (suite: SuiteName) => Promise<CiphersuiteImpl>;
  openProfile(name: string, opts: OpenProfileOptions): Promise<ProfileStorage>;
  /** Remove a half-made profile entirely (a failed enroll or link), so the next attempt starts clean. */
  discardProfile(store: ProfileStorage): void;
  files(api: HttpApi, store: ProfileStorage, token: () => Promise<string>, testHooks: { afterUploadPart?: (part: number) => void }): FileTransferPort;
  webSocket: WebSocketFactory;
  /** Building MIME for outside mail; absent where the platform has no composer yet (the browser). */
  mime?: MimeComposer;
}
