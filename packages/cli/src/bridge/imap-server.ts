// The bridge's IMAP4rev1 server (RFC 3501) with IDLE (2177), UIDPLUS (4315), MOVE (6851), SPECIAL-USE (6154),
// CONDSTORE (7162, MODSEQ in FETCH and SEARCH), LITERAL+ (7888), ENABLE, ID, NAMESPACE, UNSELECT; LOGIN and
// AUTHENTICATE PLAIN with the bridge password. Each connection is a small state machine over CommandReader
// (imap-parser.ts); what the mailboxes hold comes from a MailIndex and a backend over the Sealpost client.
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { CommandReader, ImapSyntaxError, type RawCommand, imapString, parseFetchItems, parseSearch, parseSequenceSet, readCommand, type FetchItem, type SearchKey, type Token } from './imap-parser.js';
import { MAILBOXES, type IndexedMessage, type MailboxName, type MailIndex } from './mail-index.js';
import { bodyStructure, envelope, headerSubset, headerValue, internalDate } from './imap-format.js';
import { partAt, type Rendered, type RenderMail } from './render.js';
import type { Prepared } from './prepared.js';
import { StreamCursor } from './stream-cursor.js';
import { MAX_DRAFT_BYTES } from '@sealpost/client';

export interface BridgeBackend {
  index: MailIndex;
  /** The user the bridge serves (the IMAP login name). */
  user: string;
  mail(mailId: string): RenderMail | undefined;
  /** The rendered message (with its files streamed by `open` when a client fetches a part holding them). */
  render(mailId: string): Promise<Rendered>;
  /** What was kept of an earlier rendering (prepared.ts), if anything. */
  prepared(mailId: string): Prepared | undefined;
  /** A draft a mail program saves (APPEND to Drafts): kept on this device, filed with the next UID. */
  appendDraft(raw: Buffer, flags: string[], internalDate: number | undefined): IndexedMessage;
  markRead(mailId: string): Promise<void>;
  deleteMail(mailId: string): Promise<void>;
  /** Called with a listener for "mailboxes changed"; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
}

const CAPABILITIES = 'IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE SPECIAL-USE CONDSTORE ENABLE ID NAMESPACE UNSELECT AUTH=PLAIN';
const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

/** What a FETCH answer is made from: a fresh rendering, what was kept of an earlier one, or neither (flags only). */
interface Ready {
  rendered?: Rendered;
  kept?: Prepared;
}

/** Bytes a FETCH lets wait in the socket before it waits for the client to read. */
const MAX_BUFFERED = 1024 * 1024;

/** Messages rendered ahead of the one a FETCH is writing. */
const FETCH_AHEAD = 16;

/** Wrong passwords: each slows the next answer; after this many in a row, every login is refused for a while. */
export const LOGIN_LOCKOUT = { failures: 30, forMs: 5 * 60_000, stepMs: 10, maxDelayMs: 500 };

class ImapFailure extends Error {
  constructor(
    readonly kind: 'NO' | 'BAD',
    message: string,
  ) {
    super(message);
  }
}

const no = (m: string) => new ImapFailure('NO', m);
const bad = (m: string) => new ImapFailure('BAD', m);

function atomOrString(t: Token | undefined, what: string): string {
  if (!t || (t.type !== 'atom' && t.type !== 'string')) throw bad(`${what} expected`);
  return t.value;
}

/** LIST patterns: * matches anything, % anything but the hierarchy delimiter (we have none below the top). */
function matches(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/%/g, '[^/]*')}$`, 'i');
  return re.test(name);
}

export interface ImapServer {
  port: number;
  close(): Promise<void>;
}

export async function startImapServer(backend: BridgeBackend, opts: { host: string; port: number; tls?: { cert: Buffer; key: Buffer }; log?: (line: string) => void }): Promise<ImapServer> {
  const sockets = new Set<Socket>();
  const lockout = { failures: 0, until: 0 };

  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    new Session(socket, backend, lockout, opts.log);
  };
  // Implicit TLS (IMAPS) when the bridge listens beyond loopback; plain on loopback, where nothing leaves the machine.
  const server: Server = opts.tls ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, onSocket) : createServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

class Session {
  private state: 'new' | 'auth' | 'selected' | 'out' = 'new';
  private selected: { name: MailboxName; readOnly: boolean; uids: number[]; flags: Map<number, string> } | undefined;
  private idle: { tag: string } | undefined;
  /** Where the last streamed piece of a part ended, for the next piece to go on from. */
  private cursor: StreamCursor | undefined;
  private authenticating: { tag: string } | undefined;
  private condstore = false;
  private busy: Promise<void> = Promise.resolve();
  private readonly reader: CommandReader;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly backend: BridgeBackend,
    private readonly lockout: { failures: number; until: number },
    private readonly log?: (line: string) => void,
  ) {
    this.reader = new CommandReader(
      (raw) => this.enqueue(raw),
      () => this.send('+ go ahead\r\n'),
      (err, tag) => {
        this.send(`${tag ?? '*'} BAD ${err.message}\r\n* BYE too much input\r\n`);
        this.socket.end();
      },
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.setTimeout(30 * 60_000, () => {
      this.send('* BYE idle too long\r\n');
      socket.end();
    });
    this.unsubscribe = backend.subscribe(() => {
      if (this.idle) this.enqueueTask(() => this.reportChanges());
    });
    socket.on('close', () => {
      this.unsubscribe();
      this.cursor?.close();
    });
    this.send(`* OK [CAPABILITY ${CAPABILITIES}] Sealpost bridge ready\r\n`);
  }

  private send(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  private onData(chunk: Buffer): void {
    // IDLE's DONE and AUTHENTICATE's response are lines outside the command grammar.
    if ((this.idle || this.authenticating) && !this.reader.inCommand) {
      const text = chunk.toString('latin1');
      const eol = text.indexOf('\r\n');
      if (eol >= 0) {
        const line = text.slice(0, eol);
        const rest = chunk.subarray(eol + 2);
        if (this.idle) {
          const tag = this.idle.tag;
          this.idle = undefined;
          if (line.toUpperCase() === 'DONE') this.send(`${tag} OK IDLE terminated\r\n`);
          else this.send(`${tag} BAD expected DONE\r\n`);
        } else if (this.authenticating) {
          const tag = this.authenticating.tag;
          this.authenticating = undefined;
          this.enqueueTask(() => this.finishPlain(tag, line));
        }
        if (rest.length > 0) this.onData(rest);
        return;
      }
      if (text.length > 8192) this.socket.destroy();
      return;
    }
    this.reader.push(chunk);
  }

  private enqueueTask(fn: () => Promise<void>): void {
    this.busy = this.busy.then(fn).catch((err) => {
      this.log?.(`imap: ${(err as Error).message}`);
      this.send('* BYE internal error\r\n');
      this.socket.destroy();
    });
  }

  private enqueue(raw: RawCommand): void {
    this.enqueueTask(async () => {
      const cmd = readCommand(raw);
      if ('error' in cmd) {
        this.send(`${cmd.tag ?? '*'} BAD ${cmd.error}\r\n`);
        return;
      }
      try {
        await this.run(cmd.tag, cmd.name, cmd.args);
      } catch (err) {
        if (err instanceof ImapFailure) this.send(`${cmd.tag} ${err.kind} ${err.message}\r\n`);
        else if (err instanceof ImapSyntaxError) this.send(`${cmd.tag} BAD ${err.message}\r\n`);
        else throw err;
      }
    });
  }

  // ---- commands ----------------------------------------------------------------------------------------------------

  private async run(tag: string, name: string, args: Token[]): Promise<void> {
    const anyState: Record<string, () => Promise<void> | void> = {
      CAPABILITY: () => this.send(`* CAPABILITY ${CAPABILITIES}\r\n${tag} OK CAPABILITY completed\r\n`),
      NOOP: async () => {
        await this.reportChanges();
        this.send(`${tag} OK NOOP completed\r\n`);
      },
      LOGOUT: () => {
        this.state = 'out';
        this.send(`* BYE Sealpost bridge logging out\r\n${tag} OK LOGOUT completed\r\n`);
        this.socket.end();
      },
      ID: () => this.send(`* ID ("name" "Sealpost bridge")\r\n${tag} OK ID completed\r\n`),
    };
    if (anyState[name]) return void (await anyState[name]!());
    if (this.state === 'new') {
      if (name === 'LOGIN') return this.login(tag, atomOrString(args[0], 'user name'), atomOrString(args[1], 'password'));
      if (name === 'AUTHENTICATE') {
        if (atomOrString(args[0], 'mechanism').toUpperCase() !== 'PLAIN') throw no('only AUTHENTICATE PLAIN is offered');
        if (args[1]) return this.finishPlain(tag, atomOrString(args[1], 'initial response'));
        this.authenticating = { tag };
        this.send('+ \r\n');
        return;
      }
      throw bad(`${name}: log in first (LOGIN or AUTHENTICATE PLAIN with the bridge password)`);
    }
    switch (name) {
      case 'ENABLE': {
        const caps = args.map((a) => atomOrString(a, 'capability').toUpperCase());
        if (caps.includes('CONDSTORE')) this.condstore = true;
        this.send(`* ENABLED${caps.includes('CONDSTORE') ? ' CONDSTORE' : ''}\r\n${tag} OK ENABLE completed\r\n`);
        return;
      }
      case 'NAMESPACE':
        this.send(`* NAMESPACE (("" "/")) NIL NIL\r\n${tag} OK NAMESPACE completed\r\n`);
        return;
      case 'LIST':
      case 'LSUB': {
        // LIST-EXTENDED forms (selection options before, RETURN after) are read past: we answer the basic form.
        const plain = args.filter((a) => a.type !== 'list');
        const pattern = atomOrString(plain[1], 'mailbox pattern');
        if (pattern === '') {
          this.send(`* ${name} (\\Noselect) "/" ""\r\n${tag} OK ${name} completed\r\n`);
          return;
        }
        for (const m of MAILBOXES) {
          if (!matches(pattern, m.name)) continue;
          const attrs = ['\\HasNoChildren', ...(m.special ? [m.special] : [])].join(' ');
          this.send(`* ${name} (${attrs}) "/" ${imapString(m.name)}\r\n`);
        }
        this.send(`${tag} OK ${name} completed\r\n`);
        return;
      }
      case 'STATUS': {
        const box = this.backend.index.mailbox(atomOrString(args[0], 'mailbox'));
        if (!box) throw no('[NONEXISTENT] no such mailbox');
        const items = args[1]?.type === 'list' ? args[1].items.map((t) => atomOrString(t, 'status item').toUpperCase()) : [];
        const msgs = this.backend.index.messages(box.name);
        const values: Record<string, number> = {
          MESSAGES: msgs.length,
          RECENT: 0,
          UIDNEXT: box.uidNext,
          UIDVALIDITY: box.uidValidity,
          UNSEEN: msgs.filter((m) => !m.flags.includes('\\Seen')).length,
          HIGHESTMODSEQ: box.highestModseq,
        };
        const out = items.filter((i) => i in values).map((i) => `${i} ${values[i]}`);
        this.send(`* STATUS ${imapString(box.name)} (${out.join(' ')})\r\n${tag} OK STATUS completed\r\n`);
        return;
      }
      case 'SELECT':
      case 'EXAMINE':
        return this.select(tag, atomOrString(args[0], 'mailbox'), name === 'EXAMINE', args[1]);
      case 'CREATE':
      case 'DELETE':
      case 'RENAME':
        throw no('[CANNOT] Sealpost has a fixed set of folders: INBOX, Sent, Drafts, Trash, Archive');
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        this.send(`${tag} OK ${name} completed\r\n`);
        return;
      case 'APPEND':
        return this.append(tag, args);
      case 'IDLE':
        this.idle = { tag };
        this.send('+ idling\r\n');
        await this.reportChanges();
        return;
    }
    if (this.state !== 'selected' || !this.selected) throw bad(`${name}: select a mailbox first`);
    switch (name) {
      case 'CHECK':
        await this.reportChanges();
        this.send(`${tag} OK CHECK completed\r\n`);
        return;
      case 'CLOSE':
        if (!this.selected.readOnly) await this.expunge(undefined, true);
        this.selected = undefined;
        this.state = 'auth';
        this.send(`${tag} OK CLOSE completed\r\n`);
        return;
      case 'UNSELECT':
        this.selected = undefined;
        this.state = 'auth';
        this.send(`${tag} OK UNSELECT completed\r\n`);
        return;
      case 'FETCH':
      case 'UID FETCH':
        return this.fetch(tag, name === 'UID FETCH', args);
      case 'STORE':
      case 'UID STORE':
        return this.store(tag, name === 'UID STORE', args);
      case 'SEARCH':
      case 'UID SEARCH':
        return this.search(tag, name === 'UID SEARCH', args);
      case 'EXPUNGE':
        await this.expunge(undefined, false);
        this.send(`${tag} OK EXPUNGE completed\r\n`);
        return;
      case 'UID EXPUNGE':
        await this.expunge(new Set(parseSequenceSet(atomOrString(args[0], 'UID set'), this.maxUid())), false);
        this.send(`${tag} OK UID EXPUNGE completed\r\n`);
        return;
      case 'MOVE':
      case 'UID MOVE':
        return this.move(tag, name === 'UID MOVE', args);
      case 'COPY':
      case 'UID COPY':
        throw no('[CANNOT] a Sealpost mail is in one folder at a time: use MOVE');
    }
    throw bad(`unknown command ${name.slice(0, 30)}`);
  }

  /**
   * APPEND (RFC 3501 §6.3.11, APPENDUID of RFC 4315). Drafts: kept on this device, in the encrypted profile. Sent: a
   * mail program saves a copy of what it sent there (Thunderbird does by default); Sealpost files every mail it sends
   * there itself, so the copy is taken and dropped. Elsewhere a mail program cannot make mail: it sends it.
   */
  private async append(tag: string, args: Token[]): Promise<void> {
    const box = this.backend.index.mailbox(atomOrString(args[0], 'mailbox'));
    if (!box) throw no('[TRYCREATE] no such mailbox');
    const message = args.at(-1);
    if (message?.type !== 'string') throw bad('APPEND needs the message as a literal');
    if (box.name === 'Sent') return void this.send(`${tag} OK APPEND completed (Sealpost files the mail it sent in Sent)\r\n`);
    if (box.name !== 'Drafts') throw no('[CANNOT] a mail program can keep drafts in Drafts; other mail is made by sending it through the bridge\'s SMTP port');
    if (message.bytes.length > MAX_DRAFT_BYTES) throw no(`[LIMIT] a draft is at most ${MAX_DRAFT_BYTES} bytes`);
    const flagList = args.slice(1, -1).find((t) => t.type === 'list');
    const flags = flagList?.type === 'list' ? flagList.items.map((t) => atomOrString(t, 'flag')) : [];
    for (const f of flags) if (f.startsWith('\\') && !SYSTEM_FLAGS.includes(f)) throw bad(`unknown system flag ${f}`);
    const dateTok = args.slice(1, -1).find((t) => t.type === 'string');
    const date = dateTok ? Date.parse(dateTok.value.replace(/^(\s?\d+)-(\w{3})-(\d{4})/, '$1 $2 $3')) : undefined;
    if (dateTok && Number.isNaN(date)) throw bad('APPEND date-time: like "07-Dec-2026 09:30:00 +0100"');
    const m = this.backend.appendDraft(message.bytes, flags, date);
    if (this.selected?.name === box.name) await this.reportChanges();
    this.send(`${tag} OK [APPENDUID ${box.uidValidity} ${m.uid}] APPEND completed (kept on this device only)\r\n`);
  }

  private async login(tag: string, user: string, password: string): Promise<void> {
    const now = Date.now();
    if (this.lockout.until > now) throw no('[UNAVAILABLE] too many wrong passwords; logins are refused for a while');
    const ok = user.toLowerCase() === this.backend.user.toLowerCase() && this.backend.index.checkPassword(password);
    if (!ok) {
      this.lockout.failures++;
      // Slowed: each wrong password in a row waits a little longer before it is answered.
      await new Promise((r) => setTimeout(r, Math.min(LOGIN_LOCKOUT.maxDelayMs, this.lockout.failures * LOGIN_LOCKOUT.stepMs)));
      if (this.lockout.failures >= LOGIN_LOCKOUT.failures) this.lockout.until = Date.now() + LOGIN_LOCKOUT.forMs;
      throw no('[AUTHENTICATIONFAILED] wrong user name or bridge password');
    }
    this.lockout.failures = 0;
    this.state = 'auth';
    this.send(`${tag} OK [CAPABILITY ${CAPABILITIES}] logged in\r\n`);
  }

  private async finishPlain(tag: string, b64: string): Promise<void> {
    if (b64 === '*') return void this.send(`${tag} BAD authentication cancelled\r\n`);
    const decoded = Buffer.from(b64, 'base64').toString('utf8').split('\0');
    if (decoded.length !== 3) return void this.send(`${tag} BAD not an AUTH PLAIN response\r\n`);
    try {
      await this.login(tag, decoded[1]!, decoded[2]!);
    } catch (err) {
      if (err instanceof ImapFailure) this.send(`${tag} ${err.kind} ${err.message}\r\n`);
      else throw err;
    }
  }

  private select(tag: string, mailbox: string, readOnly: boolean, options: Token | undefined): void {
    const box = this.backend.index.mailbox(mailbox);
    if (!box) {
      this.selected = undefined;
      this.state = 'auth';
      throw no('[NONEXISTENT] no such mailbox');
    }
    if (options?.type === 'list' && options.items.some((t) => t.type === 'atom' && t.value.toUpperCase() === 'CONDSTORE')) this.condstore = true;
    const msgs = this.backend.index.messages(box.name);
    this.selected = { name: box.name, readOnly, uids: msgs.map((m) => m.uid), flags: new Map(msgs.map((m) => [m.uid, m.flags.join(' ')])) };
    this.state = 'selected';
    const unseen = msgs.findIndex((m) => !m.flags.includes('\\Seen'));
    this.send(
      [
        `* FLAGS (${SYSTEM_FLAGS.join(' ')})`,
        `* OK [PERMANENTFLAGS (${SYSTEM_FLAGS.join(' ')} \\*)] flags kept`,
        `* ${msgs.length} EXISTS`,
        '* 0 RECENT',
        ...(unseen >= 0 ? [`* OK [UNSEEN ${unseen + 1}] first unseen`] : []),
        `* OK [UIDVALIDITY ${box.uidValidity}] UIDs valid`,
        `* OK [UIDNEXT ${box.uidNext}] predicted next UID`,
        `* OK [HIGHESTMODSEQ ${box.highestModseq}] highest`,
        `${tag} OK [${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${readOnly ? 'EXAMINE' : 'SELECT'} completed`,
        '',
      ].join('\r\n'),
    );
  }

  private maxUid(): number {
    return Math.max(0, ...(this.selected?.uids ?? []));
  }

  /** The messages a set names, as [sequence number, message], against what this session was told exists. */
  private resolve(setText: string, byUid: boolean): [number, IndexedMessage][] {
    const sel = this.selected!;
    const current = new Map(this.backend.index.messages(sel.name).map((m) => [m.uid, m]));
    const out: [number, IndexedMessage][] = [];
    if (byUid) {
      const wanted = new Set(parseSequenceSet(setText, this.maxUid() || 1));
      sel.uids.forEach((uid, i) => {
        const m = current.get(uid);
        if (wanted.has(uid) && m) out.push([i + 1, m]);
      });
    } else {
      if (sel.uids.length === 0) throw bad('no messages in this mailbox');
      for (const n of parseSequenceSet(setText, sel.uids.length)) {
        const m = current.get(sel.uids[n - 1]!);
        if (m) out.push([n, m]);
      }
    }
    return out;
  }

  private async fetch(tag: string, byUid: boolean, args: Token[]): Promise<void> {
    const items = parseFetchItems(args[1]);
    // CHANGEDSINCE (RFC 7162 §3.1.4.1): only messages changed after the given modseq.
    let changedSince: number | undefined;
    if (args[2]?.type === 'list') {
      const mods = args[2].items;
      if (mods[0]?.type === 'atom' && mods[0].value.toUpperCase() === 'CHANGEDSINCE') changedSince = Number(atomOrString(mods[1], 'modseq'));
      this.condstore = true;
    }
    if (byUid && !items.some((i) => i.name === 'UID')) items.unshift({ name: 'UID', label: 'UID' });
    if ((this.condstore || changedSince !== undefined) && !items.some((i) => i.name === 'MODSEQ')) items.push({ name: 'MODSEQ', label: 'MODSEQ' });
    const targets = this.resolve(atomOrString(args[0], 'sequence set'), byUid).filter(([, m]) => changedSince === undefined || m.modseq > changedSince);
    // Messages are rendered a few ahead of the one being written (rendering waits on the composer's stream turns and on
    // attachment downloads); answers still go out in order.
    const ahead: Promise<Ready>[] = [];
    const start = (i: number) => {
      if (i < targets.length) ahead[i] = this.prepare(targets[i]![1], items);
    };
    for (let i = 0; i < FETCH_AHEAD; i++) start(i);
    // Answers are corked and sent in batches, not one small packet per message.
    this.socket.cork();
    try {
      for (let i = 0; i < targets.length; i++) {
        const ready = await ahead[i]!;
        delete ahead[i];
        start(i + FETCH_AHEAD);
        await this.fetchOne(targets[i]![0], targets[i]![1], items, ready);
        if (i % 64 === 63 || this.socket.writableLength > MAX_BUFFERED) {
          this.socket.uncork();
          // A client that reads slowly holds the answer back, not the bridge's memory.
          if (this.socket.writableLength > MAX_BUFFERED) await this.drained();
          this.socket.cork();
        }
      }
    } finally {
      this.socket.uncork();
    }
    this.send(`${tag} OK ${byUid ? 'UID FETCH' : 'FETCH'} completed\r\n`);
  }

  /** What a FETCH of these items needs rendered: the message (its shape, when it holds files), or nothing. */
  private prepare(m: IndexedMessage, items: FetchItem[]): Promise<Ready> {
    const needsBody = items.some((i) => i.name === 'BODY' && i.section !== undefined);
    const needsStructure = items.some((i) => i.name === 'BODYSTRUCTURE' || (i.name === 'BODY' && i.section === undefined) || i.name === 'RFC822.SIZE');
    if (!needsBody && !needsStructure) return Promise.resolve({});
    const kept = this.backend.prepared(m.mailId);
    if (coveredByPrepared(items, kept)) return Promise.resolve({ kept });
    if (!this.backend.mail(m.mailId)) return Promise.resolve({});
    const r = this.backend.render(m.mailId).then((rendered) => ({ rendered }));
    r.catch(() => {}); // awaited in order; an early failure must not be unhandled meanwhile
    return r;
  }

  /** Resolves when the socket has written what it holds (or is gone). */
  private drained(): Promise<void> {
    if (this.socket.destroyed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /**
   * Writes `length` bytes of a streamed part from `from` on, as they come, waiting for the client to read (an
   * attachment is decrypted while it downloads, straight into the answer); a FETCH of the next piece goes on from where
   * this one ended (stream-cursor.ts). A source that fails or ends early cannot be answered otherwise once its literal
   * is announced: the connection is closed, and the client fetches again.
   */
  private async pipeLiteral(key: string, open: () => Readable, from: number, length: number): Promise<void> {
    this.socket.uncork();
    if (!this.cursor?.reaches(key, from)) {
      this.cursor?.close();
      this.cursor = new StreamCursor(key, open());
    }
    let written = 0;
    try {
      written = await this.cursor.copy(from, length, async (c) => {
        if (this.socket.destroyed) throw new Error('client gone');
        if (!this.socket.write(c)) await this.drained();
      });
    } catch (err) {
      this.log?.(`imap: a part could not be streamed: ${(err as Error).message}`);
    }
    if (written < length) {
      this.cursor.close();
      this.cursor = undefined;
      this.socket.destroy();
      throw new ImapFailure('NO', 'connection closed: a part could not be read');
    }
    this.socket.cork();
  }

  private async fetchOne(seq: number, m0: IndexedMessage, items: FetchItem[], ready: Ready): Promise<void> {
    const { rendered, kept } = ready;
    let m = m0;
    // The mail itself is read only for what only it has (ENVELOPE, INTERNALDATE); a mail deleted meanwhile is left
    // out here and reported as EXPUNGE at the next chance.
    const needsView = items.some((i) => i.name === 'ENVELOPE' || i.name === 'INTERNALDATE');
    const mail = needsView ? this.backend.mail(m.mailId) : undefined;
    if (needsView && !mail) return;
    if (!rendered && !kept && items.some((i) => i.name === 'BODY' || i.name === 'BODYSTRUCTURE' || i.name === 'RFC822.SIZE')) return;
    // The index learns a size it did not have (for SEARCH LARGER/SMALLER); a kept rendering has it already.
    if (rendered && this.backend.index.sizeOf(m) === null) this.backend.index.setSize(m.mailId, rendered.size);
    // A non-PEEK body fetch sets \Seen (RFC 3501 §6.4.5), and the FLAGS change is reported in the same response.
    if (items.some((i) => i.name === 'BODY' && i.section !== undefined && !i.peek) && !m.flags.includes('\\Seen') && !this.selected!.readOnly) {
      m = this.backend.index.setFlags(m.mailId, [...m.flags, '\\Seen']);
      await this.backend.markRead(m.mailId);
      this.selected!.flags.set(m.uid, m.flags.join(' '));
      if (!items.some((i) => i.name === 'FLAGS')) items = [...items, { name: 'FLAGS', label: 'FLAGS' }];
    }
    // The answer is gathered — text joined into one string between the literals — and written as one buffer (one
    // socket write per message, not one per piece); a streamed part flushes what came before it.
    let pending = `* ${seq} FETCH (`;
    const pieces: Buffer[] = [];
    const text = (s: string) => {
      pending += s;
    };
    const literal = (b: Buffer) => {
      pieces.push(Buffer.from(pending, 'latin1'), b);
      pending = '';
    };
    const flush = () => {
      pieces.push(Buffer.from(pending, 'latin1'));
      pending = '';
      this.send(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
      pieces.length = 0;
    };
    for (const [i, item] of items.entries()) {
      if (i > 0) text(' ');
      switch (item.name) {
        case 'UID':
          text(`UID ${m.uid}`);
          continue;
        case 'FLAGS':
          text(`FLAGS (${m.flags.join(' ')})`);
          continue;
        case 'MODSEQ':
          text(`MODSEQ (${m.modseq})`);
          continue;
        case 'INTERNALDATE':
          text(`INTERNALDATE ${internalDate(m.internalDate !== undefined ? new Date(m.internalDate).toISOString() : mail!.date)}`);
          continue;
        case 'RFC822.SIZE':
          text(`RFC822.SIZE ${rendered ? rendered.size : kept!.size}`);
          continue;
        case 'ENVELOPE':
          text(`ENVELOPE ${envelope(mail!)}`);
          continue;
        case 'BODYSTRUCTURE':
          text(`BODYSTRUCTURE ${rendered ? bodyStructure(rendered.root, true) : kept!.bodyStructure}`);
          continue;
      }
      if (item.section === undefined) {
        text(`BODY ${rendered ? bodyStructure(rendered.root, false) : kept!.body}`);
        continue;
      }
      // The whole message from what was kept: its header and its body, written one after the other.
      if (!rendered && !item.partial && item.section === '' && kept!.hasRaw) {
        const [head, body] = kept!.parts();
        text(`${item.label} {${head.length + body.length}}\r\n`);
        literal(head);
        pieces.push(body);
        continue;
      }
      const data = rendered ? sectionBytes(rendered, item) : keptSection(kept!, item);
      if (Buffer.isBuffer(data)) {
        const cut = item.partial ? data.subarray(item.partial.start, item.partial.length !== undefined ? item.partial.start + item.partial.length : undefined) : data;
        text(`${item.label} {${cut.length}}\r\n`);
        literal(cut);
        continue;
      }
      // A part holding a file: streamed, its length known from the rendering's shape.
      const from = Math.min(data.length, item.partial?.start ?? 0);
      const length = Math.min(data.length - from, item.partial?.length ?? Infinity);
      text(`${item.label} {${length}}\r\n`);
      flush();
      await this.pipeLiteral(`${m.mailId}/${data.path}`, data.open, data.skip + from, length);
    }
    text(')\r\n');
    flush();
  }

  private async store(tag: string, byUid: boolean, args: Token[]): Promise<void> {
    if (this.selected!.readOnly) throw no('[READ-ONLY] mailbox selected with EXAMINE');
    let op = atomOrString(args[1], 'STORE item').toUpperCase();
    let flagsTok = args[2];
    // UNCHANGEDSINCE (RFC 7162): read and honoured as "apply" (the bridge is the only writer of its flags).
    if (args[1]?.type === 'list') {
      op = atomOrString(args[2], 'STORE item').toUpperCase();
      flagsTok = args[3];
    }
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(op);
    if (!m) throw bad(`unknown STORE item ${op.slice(0, 20)}`);
    const flags = (flagsTok?.type === 'list' ? flagsTok.items : flagsTok ? [flagsTok] : []).map((t) => atomOrString(t, 'flag'));
    for (const f of flags) if (f.startsWith('\\') && !SYSTEM_FLAGS.includes(f)) throw bad(`unknown system flag ${f}`);
    for (const [seq, msg] of this.resolve(atomOrString(args[0], 'sequence set'), byUid)) {
      const next = m[1] === '+' ? [...msg.flags, ...flags] : m[1] === '-' ? msg.flags.filter((f) => !flags.includes(f)) : flags;
      const updated = this.backend.index.setFlags(msg.mailId, next);
      if (next.includes('\\Seen') && !msg.flags.includes('\\Seen')) await this.backend.markRead(msg.mailId);
      this.selected!.flags.set(updated.uid, updated.flags.join(' '));
      if (!m[2]) this.send(`* ${seq} FETCH (FLAGS (${updated.flags.join(' ')})${byUid ? ` UID ${updated.uid}` : ''}${this.condstore ? ` MODSEQ (${updated.modseq})` : ''})\r\n`);
    }
    this.send(`${tag} OK STORE completed\r\n`);
  }

  private async search(tag: string, byUid: boolean, args: Token[]): Promise<void> {
    const key = parseSearch(args);
    const sel = this.selected!;
    const msgs = new Map(this.backend.index.messages(sel.name).map((m) => [m.uid, m]));
    const hits: number[] = [];
    let maxModseq = 0;
    for (let i = 0; i < sel.uids.length; i++) {
      const m = msgs.get(sel.uids[i]!);
      if (!m) continue;
      if (await this.matchesKey(key, i + 1, m)) {
        hits.push(byUid ? m.uid : i + 1);
        maxModseq = Math.max(maxModseq, m.modseq);
      }
    }
    const modseq = usesModseq(key) && hits.length > 0 ? ` (MODSEQ ${maxModseq})` : '';
    this.send(`* SEARCH${hits.length ? ` ${hits.join(' ')}` : ''}${modseq}\r\n${tag} OK SEARCH completed\r\n`);
  }

  private async matchesKey(k: SearchKey, seq: number, m: IndexedMessage): Promise<boolean> {
    const mail = this.backend.mail(m.mailId);
    if (!mail) return false;
    const has = (s: string, needle: string) => s.toLowerCase().includes(needle.toLowerCase());
    switch (k.op) {
      case 'all':
        return true;
      case 'flag':
        return k.flag === '\\Recent' ? !k.set : m.flags.includes(k.flag) === k.set;
      case 'seq':
        return parseSequenceSet(k.text, this.selected!.uids.length || 1).includes(seq);
      case 'uid':
        return parseSequenceSet(k.text, this.maxUid() || 1).includes(m.uid);
      case 'text':
        switch (k.where) {
          case 'SUBJECT':
            return has(mail.subject, k.value);
          case 'FROM':
            return has(mail.from, k.value);
          case 'TO':
            return mail.to.some((a) => has(a, k.value));
          case 'CC':
            return mail.cc.some((a) => has(a, k.value));
          case 'BCC':
            return (mail.bcc ?? []).some((a) => has(a, k.value));
          case 'BODY':
            return has(mail.text, k.value);
          case 'TEXT':
            return has(`${mail.subject}\n${mail.from}\n${mail.to.join(',')}\n${mail.text}`, k.value);
        }
        return false;
      case 'header': {
        const r = await this.backend.render(m.mailId);
        return headerValue(r.root.header, k.field).some((v) => has(v, k.value));
      }
      case 'date': {
        const d = new Date(mail.date);
        const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
        if (k.which.endsWith('BEFORE')) return day < k.day;
        if (k.which.endsWith('ON')) return day === k.day;
        return day >= k.day;
      }
      case 'size': {
        const size = this.backend.index.sizeOf(m) ?? this.backend.prepared(m.mailId)?.size ?? (await this.backend.render(m.mailId)).size;
        return k.larger ? size > k.n : size < k.n;
      }
      case 'modseq':
        return m.modseq >= k.n;
      case 'not':
        return !(await this.matchesKey(k.key, seq, m));
      case 'or':
        return (await this.matchesKey(k.a, seq, m)) || (await this.matchesKey(k.b, seq, m));
      case 'and':
        for (const sub of k.keys) if (!(await this.matchesKey(sub, seq, m))) return false;
        return true;
    }
  }

  /** Removes \Deleted messages (only those of `uids`, when given): deleted in Sealpost, reported as EXPUNGE. */
  private async expunge(uids: Set<number> | undefined, silent: boolean): Promise<void> {
    const sel = this.selected!;
    if (sel.readOnly) throw no('[READ-ONLY] mailbox selected with EXAMINE');
    const gone = this.backend.index.messages(sel.name).filter((m) => m.flags.includes('\\Deleted') && (!uids || uids.has(m.uid)));
    for (const m of gone) {
      await this.backend.deleteMail(m.mailId);
      this.backend.index.remove(m.mailId);
    }
    if (!silent) await this.reportChanges();
    else this.resync();
  }

  private async move(tag: string, byUid: boolean, args: Token[]): Promise<void> {
    const target = this.backend.index.mailbox(atomOrString(args[1], 'mailbox'));
    if (!target) throw no('[TRYCREATE] no such mailbox');
    if (this.selected!.readOnly) throw no('[READ-ONLY] mailbox selected with EXAMINE');
    const moving = this.resolve(atomOrString(args[0], 'sequence set'), byUid);
    if (target.name === this.selected!.name) throw no('[CANNOT] already in that mailbox');
    const from: number[] = [];
    const to: number[] = [];
    for (const [, m] of moving) {
      const moved = this.backend.index.move(m.mailId, target.name);
      from.push(m.uid);
      to.push(moved.uid);
    }
    if (moving.length > 0) this.send(`* OK [COPYUID ${target.uidValidity} ${from.join(',')} ${to.join(',')}] moved\r\n`);
    await this.reportChanges();
    this.send(`${tag} OK MOVE completed\r\n`);
  }

  /** Tell the client what changed in the selected mailbox since it last heard: EXPUNGE, EXISTS, FETCH FLAGS. */
  private async reportChanges(): Promise<void> {
    const sel = this.selected;
    if (!sel) return;
    const now = this.backend.index.messages(sel.name);
    const still = new Set(now.map((m) => m.uid));
    // Highest sequence numbers first, so the ones before stay right.
    for (let i = sel.uids.length - 1; i >= 0; i--) {
      if (!still.has(sel.uids[i]!)) {
        this.send(`* ${i + 1} EXPUNGE\r\n`);
        sel.flags.delete(sel.uids[i]!);
        sel.uids.splice(i, 1);
      }
    }
    const known = new Set(sel.uids);
    const added = now.filter((m) => !known.has(m.uid));
    if (added.length > 0) {
      sel.uids.push(...added.map((m) => m.uid));
      for (const m of added) sel.flags.set(m.uid, m.flags.join(' '));
      this.send(`* ${sel.uids.length} EXISTS\r\n`);
    }
    now.forEach((m) => {
      const told = sel.flags.get(m.uid);
      if (told !== undefined && told !== m.flags.join(' ')) {
        sel.flags.set(m.uid, m.flags.join(' '));
        this.send(`* ${sel.uids.indexOf(m.uid) + 1} FETCH (FLAGS (${m.flags.join(' ')}) UID ${m.uid})\r\n`);
      }
    });
  }

  private resync(): void {
    const sel = this.selected!;
    const now = this.backend.index.messages(sel.name);
    sel.uids = now.map((m) => m.uid);
    sel.flags = new Map(now.map((m) => [m.uid, m.flags.join(' ')]));
  }
}

function usesModseq(k: SearchKey): boolean {
  if (k.op === 'modseq') return true;
  if (k.op === 'not') return usesModseq(k.key);
  if (k.op === 'or') return usesModseq(k.a) || usesModseq(k.b);
  if (k.op === 'and') return k.keys.some(usesModseq);
  return false;
}

/** Whether what was kept of a mail answers every item (no rendering needed). */
function coveredByPrepared(items: FetchItem[], p: Prepared | undefined): boolean {
  if (!p) return false;
  return items.every((i) => {
    if (i.name !== 'BODY' || i.section === undefined) return true;
    if (i.section === 'HEADER' || i.section === 'HEADER.FIELDS' || i.section === 'HEADER.FIELDS.NOT') return true;
    return (i.section === '' || i.section === 'TEXT') && p.hasRaw;
  });
}

/** A BODY[section] of the message's own part, from what was kept. */
function keptSection(p: Prepared, item: FetchItem): Buffer {
  switch (item.section) {
    case 'HEADER':
      return p.header;
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT':
      return headerSubset(p.header, item.fields ?? [], item.section === 'HEADER.FIELDS.NOT');
    case 'TEXT':
      return p.parts()[1];
    default:
      return p.raw();
  }
}

/** The bytes a BODY[section] names, or how to stream them (a part holding a file): `length` bytes from `skip` on. */
function sectionBytes(r: Rendered, item: FetchItem): Buffer | { path: string; open: () => Readable; skip: number; length: number } {
  const m = /^((?:\d+\.)*\d+)?\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?$/.exec(item.section ?? '')!;
  const path = m[1] ?? '';
  const kind = m[2];
  const part = partAt(r.root, path);
  if (!part) return Buffer.alloc(0);
  if (kind === 'MIME') return part.header;
  // HEADER and TEXT of a message/rfc822 part are those of the message it holds.
  const message = path === '' ? part : part.message;
  if (!message && kind) return Buffer.alloc(0);
  if (kind === 'HEADER') return message!.header;
  if (kind === 'HEADER.FIELDS' || kind === 'HEADER.FIELDS.NOT') return headerSubset(message!.header, item.fields ?? [], kind === 'HEADER.FIELDS.NOT');
  const whole = path === '' && kind === undefined;
  if (whole && r.raw) return r.raw;
  const target = kind === 'TEXT' ? message! : part;
  if (!whole && target.body) return target.body;
  // Streamed: the message (its header, then its body) or the part (its MIME header, then its body).
  const open = () => r.open!(path);
  if (whole) return { path, open, skip: 0, length: r.size };
  return { path, open, skip: (path === '' ? r.root : part).header.length, length: target.size };
}
