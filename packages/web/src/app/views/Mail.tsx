// Mail: inbox and sent, reading a mail (marked read), reply, reply-all, forward, and composing with To, Cc, Bcc and
// attachments. Mail is end-to-end encrypted like chat: the server sees neither subject nor body.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { MailSummary } from '@sealpost/client/browser';
import { client, held, refresh, revision, route, shortName, type Route } from '../state.js';
import { ArchivedBanner, Attachment } from './Chats.js';
import { Action, bytes, names, time } from './common.js';
import { confirmingArchive } from '../legal-hold.js';

type MailRoute = Extract<Route, { view: 'mail' }>;

export function MailView(props: { route: MailRoute }): JSX.Element {
  const c = client.value!;
  void revision.value;
  const r = props.route;
  const list = c.mailList(r.folder).slice().reverse();
  const unread = c.mailList('inbox').filter((m) => m.unread).length;
  return (
    <div class="split">
      <section class="list" aria-label="Mail folders">
        <button type="button" class="primary" data-testid="compose" onClick={() => (route.value = { view: 'mail', folder: r.folder, compose: {} })}>Write mail</button>
        <nav class="folders" aria-label="Folders">
          <button type="button" class={r.folder === 'inbox' ? 'tab active' : 'tab'} onClick={() => (route.value = { view: 'mail', folder: 'inbox' })}>
            Inbox{unread > 0 && <span class="badge" aria-label={`${unread} unread`}>{unread}</span>}
          </button>
          <button type="button" class={r.folder === 'sent' ? 'tab active' : 'tab'} onClick={() => (route.value = { view: 'mail', folder: 'sent' })}>Sent</button>
        </nav>
        <ul class="mails" data-testid="mail-list">
          {list.length === 0 && <li class="muted">Nothing here.</li>}
          {list.map((m) => (
            <li>
              <button type="button" class={m.unread ? 'mail unread' : 'mail'} aria-current={m.id === r.mail ? 'true' : undefined} data-testid="mail-item" onClick={() => (route.value = { view: 'mail', folder: r.folder, mail: m.id })}>
                <span class="from">{r.folder === 'sent' ? `To ${m.to.map((u) => shortName(c, u)).join(', ')}` : shortName(c, m.from)}</span>
                <span class="subject">{m.subject || '(no subject)'}</span>
                <time dateTime={m.date}>{time(m.date)}</time>
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section class="pane" aria-label="Mail">
        {r.compose ? <Compose route={r} /> : r.mail ? <Read id={r.mail} folder={r.folder} /> : <p class="muted">Choose a mail, or write one.</p>}
      </section>
    </div>
  );
}

function Read(props: { id: string; folder: 'inbox' | 'sent' }): JSX.Element {
  const c = client.value!;
  const wasUnread = c.mailList(props.folder).find((x) => x.id === props.id)?.unread ?? false;
  const m = c.readMail(props.id);
  // Reading marks it read: the unread counts around it follow.
  useEffect(() => {
    if (wasUnread) refresh();
  }, [props.id]);
  const people = (us: string[]) => us.map((u) => shortName(c, u)).join(', ');
  const reply = (all: boolean) => (route.value = { view: 'mail', folder: props.folder, compose: { replyTo: m.id, all, subject: m.subject } });
  return (
    <article class="mail-read" data-testid="mail-read">
      <h2>{m.subject || '(no subject)'}</h2>
      <dl class="headers">
        <dt>From</dt><dd>{shortName(c, m.from)}</dd>
        <dt>To</dt><dd>{people(m.to)}</dd>
        {m.cc.length > 0 && <><dt>Cc</dt><dd>{people(m.cc)}</dd></>}
        {m.bcc && m.bcc.length > 0 && <><dt>Bcc</dt><dd>{people(m.bcc)}</dd></>}
        <dt>Date</dt><dd><time dateTime={m.date}>{new Date(m.date).toLocaleString()}</time></dd>
      </dl>
      {(() => {
        const thread = c.conversations().find((t) => t.id === m.thread);
        return thread ? <ArchivedBanner conv={thread} /> : null;
      })()}
      {m.outside && (
        <p class="note" data-testid="outside-mail">
          From outside the organisation: {m.outside.encrypted ? `OpenPGP-encrypted (signature ${m.outside.signature})` : 'not end-to-end encrypted'}; SPF {m.outside.auth.spf}, DKIM {m.outside.auth.dkim}, DMARC {m.outside.auth.dmarc}.
        </p>
      )}
      {m.outside?.warnings.map((w) => <p class="warn" role="alert" data-testid="outside-warning">{w}</p>)}
      <pre class="body">{m.text}</pre>
      {m.attachments.map((a) => <Attachment id={a.id} name={a.name} size={a.size} />)}
      {m.outside?.attachments.map((a) => (a.id ? <Attachment id={a.id} name={a.name} size={a.size} /> : <p class="note">Attachment {a.name} ({a.size} bytes) was too large to keep on this device.</p>))}
      <div class="actions">
        <button type="button" data-testid="reply" onClick={() => reply(false)}>Reply</button>
        <button type="button" data-testid="reply-all" onClick={() => reply(true)}>Reply all</button>
        <button type="button" data-testid="forward" onClick={() => (route.value = { view: 'mail', folder: props.folder, compose: { forward: m.id, subject: m.subject } })}>Forward</button>
      </div>
    </article>
  );
}

function Compose(props: { route: MailRoute }): JSX.Element {
  const c = client.value!;
  const init = props.route.compose!;
  const replying = init.replyTo !== undefined;
  const forwarding = init.forward !== undefined;
  const [to, setTo] = useState(init.to ?? '');
  const [cc, setCc] = useState(init.cc ?? '');
  const [bcc, setBcc] = useState('');
  const [subject, setSubject] = useState(init.subject ? (replying ? `Re: ${init.subject.replace(/^re:\s*/i, '')}` : forwarding ? `Fwd: ${init.subject}` : init.subject) : '');
  const [text, setText] = useState(init.text ?? '');
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const done = (r: { id: string; held?: { reason: string } }) => {
    if (r.held) held(r.held.reason);
    route.value = { view: 'mail', folder: 'sent' };
    refresh();
  };
  const onProgress = (d: number, t: number) => setProgress(t === 0 ? 1 : d / t);
  return (
    <form class="card compose" aria-label={replying ? 'Reply' : forwarding ? 'Forward' : 'New mail'} onSubmit={(e) => e.preventDefault()}>
      <h2>{replying ? (init.all ? 'Reply to all' : 'Reply') : forwarding ? 'Forward' : 'New mail'}</h2>
      {!replying && (
        <>
          <label>To<input name="to" value={to} onInput={(e) => setTo(e.currentTarget.value)} placeholder="bob, carol" required /></label>
          {!forwarding && <label>Cc<input name="cc" value={cc} onInput={(e) => setCc(e.currentTarget.value)} /></label>}
          {!forwarding && <label>Bcc<input name="bcc" value={bcc} onInput={(e) => setBcc(e.currentTarget.value)} /></label>}
        </>
      )}
      {!replying && !forwarding && <label>Subject<input name="subject" value={subject} onInput={(e) => setSubject(e.currentTarget.value)} /></label>}
      <label>{forwarding ? 'Note (optional)' : 'Message'}<textarea name="body" rows={10} value={text} onInput={(e) => setText(e.currentTarget.value)} /></label>
      {!forwarding && (
        <label class="file-pick">
          Attach files
          <input type="file" multiple name="attach" onChange={(e) => setFiles([...files, ...Array.from(e.currentTarget.files ?? [])])} />
        </label>
      )}
      {files.length > 0 && <ul class="picked">{files.map((f) => <li>{f.name} ({bytes(f.size)})</li>)}</ul>}
      {progress !== null && <progress max={1} value={progress} aria-label="Uploading attachments" />}
      <div class="actions">
        <Action
          type="submit"
          kind="primary"
          label="Send"
          busyLabel="Encrypting and sending…"
          testid="send-mail"
          onRun={async () => {
            setProgress(files.length > 0 ? 0 : null);
            try {
              if (replying) done(await confirmingArchive(c, () => c.replyMail(init.replyTo!, { all: init.all ?? false, text, attach: files }, { onProgress })));
              else if (forwarding) done(await confirmingArchive(c, () => c.forwardMail(init.forward!, { to: names(to), ...(text ? { text } : {}) })));
              else done(await confirmingArchive(c, () => c.sendMail({ to: names(to), cc: names(cc), bcc: names(bcc), subject, text, attach: files }, { onProgress })));
            } finally {
              setProgress(null);
            }
          }}
        />
        <button type="button" onClick={() => (route.value = { view: 'mail', folder: props.route.folder })}>Discard</button>
      </div>
    </form>
  );
}

export type { MailSummary };
