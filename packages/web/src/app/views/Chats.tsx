// Chats: the conversation list with unread counts, a conversation with its messages, files (picked or dropped, with
// progress) and members (add, remove), and starting a new chat or group.
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage, ConversationSummary } from '@sealpost/client/browser';
import type { SealpostClient } from '../../sdk/platform.browser.js';
import { client, held, markConversationRead, refresh, revision, route, shortName, show, unreadIn } from '../state.js';
import { saveAttachment } from '../downloads.js';
import { Action, bytes, names, time } from './common.js';
import { confirmingArchive } from '../legal-hold.js';

export function Chats(props: { route: { view: 'chats'; conversation?: string } }): JSX.Element {
  const c = client.value!;
  void revision.value;
  const convs = c.conversations().filter((x) => x.kind === 'chat');
  const open = convs.find((x) => x.id === props.route.conversation);
  return (
    <div class="split">
      <section class="list" aria-label="Conversations">
        <NewConversation />
        <ul class="conversations" data-testid="conversation-list">
          {convs.length === 0 && <li class="muted">No conversations yet.</li>}
          {convs.map((conv) => {
            const unread = unreadIn(c, conv.id);
            const selected = conv.id === open?.id;
            return (
              <li>
                <button
                  type="button"
                  class={selected ? 'conv selected' : 'conv'}
                  aria-current={selected ? 'true' : undefined}
                  data-testid="conversation"
                  onClick={() => (route.value = { view: 'chats', conversation: conv.id })}
                >
                  <span class="title">{title(c, conv)}</span>
                  {conv.status === 'removed' && <span class="muted"> (you were removed)</span>}
                  {unread > 0 && <span class="badge" aria-label={`${unread} unread`} data-testid="unread">{unread}</span>}
                </button>
              </li>
            );
          })}
        </ul>
      </section>
      <section class="pane" aria-label="Conversation">
        {open ? <Conversation key={open.id} conv={open} /> : <p class="muted">Choose a conversation, or start one.</p>}
      </section>
    </div>
  );
}

export function title(c: SealpostClient, conv: ConversationSummary): string {
  if (conv.name) return conv.name;
  const others = conv.members.filter((m) => m !== c.user).map((m) => shortName(c, m));
  return others.length === 0 ? 'Just you' : others.join(', ');
}

function NewConversation(): JSX.Element {
  const c = client.value!;
  const [to, setTo] = useState('');
  const [text, setText] = useState('');
  return (
    <form class="card compact" aria-label="New conversation" onSubmit={(e) => e.preventDefault()}>
      <label>New chat with (names, separated by commas)<input name="to" value={to} onInput={(e) => setTo(e.currentTarget.value)} placeholder="bob, carol" /></label>
      <label>First message<input name="first" value={text} onInput={(e) => setText(e.currentTarget.value)} /></label>
      <Action
        type="submit"
        label="Start"
        busyLabel="Starting…"
        testid="start-chat"
        onRun={async () => {
          const sent = await confirmingArchive(c, () => c.send({ to: names(to) }, text));
          setTo('');
          setText('');
          route.value = { view: 'chats', conversation: sent.conversation };
          refresh();
        }}
      />
    </form>
  );
}

function Conversation(props: { conv: ConversationSummary }): JSX.Element {
  const c = client.value!;
  void revision.value;
  const messages = c.messages(props.conv.id);
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    markConversationRead(c, props.conv.id);
    end.current?.scrollIntoView({ block: 'end' });
  }, [messages.length]);
  return (
    <>
      <header class="pane-head">
        <h2>{title(c, props.conv)}</h2>
        <Members conv={props.conv} />
      </header>
      <ArchivedBanner conv={props.conv} />
      <div class="messages" role="log" aria-label="Messages" aria-live="polite" data-testid="messages">
        {messages.map((m) => <Message m={m} mine={m.from === c.user} />)}
        <div ref={end} />
      </div>
      {props.conv.status === 'active' ? <Composer conv={props.conv} /> : <p class="muted">You are no longer in this conversation.</p>}
    </>
  );
}

/** Said in every conversation the organisation's archive is in: who is held, since when, why. */
export function ArchivedBanner(props: { conv: ConversationSummary }): JSX.Element | null {
  const c = client.value!;
  const a = props.conv.archived;
  if (!a) return null;
  const who = a.holds.map((h) => `${shortName(c, h.user)} (“${h.reason}”)`).join(', ') || 'a member';
  return (
    <p class="note" role="status" data-testid="archived-banner">
      Recorded: your organisation's archive is a member of this conversation since {time(a.since)}, under a legal hold on {who}. What is sent here from then on is kept
      by it. The hold is published in the key-transparency log and signed by your organisation.
    </p>
  );
}

function Message(props: { m: ChatMessage; mine: boolean }): JSX.Element {
  const c = client.value!;
  const { m } = props;
  return (
    <article class={props.mine ? 'msg mine' : 'msg'} data-testid="message">
      <header>
        <span class="from">{props.mine ? 'You' : shortName(c, m.from)}</span> <time dateTime={m.sentAt}>{time(m.sentAt)}</time>
      </header>
      {m.text && <p class="text">{m.text}</p>}
      {(m.attachments ?? []).map((a) => <Attachment id={a.id} name={a.name} size={a.size} />)}
    </article>
  );
}

export function Attachment(props: { id: string; name: string; size: number }): JSX.Element {
  const c = client.value!;
  const [progress, setProgress] = useState<number | null>(null);
  return (
    <div class="attachment">
      <span>📎 {props.name} ({bytes(props.size)})</span>{' '}
      <Action
        label="Download"
        busyLabel="Decrypting…"
        testid="download"
        onRun={async () => {
          setProgress(0);
          try {
            await saveAttachment(c, props.id, props.name, (d, t) => setProgress(t === 0 ? 1 : d / t));
          } finally {
            setProgress(null);
          }
        }}
      />
      {progress !== null && <progress max={1} value={progress} aria-label={`Downloading ${props.name}`} />}
    </div>
  );
}

function Composer(props: { conv: ConversationSummary }): JSX.Element {
  const c = client.value!;
  const [text, setText] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [dragging, setDragging] = useState(false);
  const send = async () => {
    if (!text && files.length === 0) return;
    setProgress(files.length > 0 ? 0 : null);
    try {
      const sent = await confirmingArchive(c, () => c.send({ conversation: props.conv.id }, text, { files, onProgress: (d, t) => setProgress(t === 0 ? 1 : d / t) }));
      if (sent.held) held(sent.held.reason);
      setText('');
      setFiles([]);
      refresh();
    } finally {
      setProgress(null);
    }
  };
  return (
    <form
      class={dragging ? 'composer dragging' : 'composer'}
      aria-label="Write a message"
      onSubmit={(e) => e.preventDefault()}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        setFiles([...files, ...Array.from(e.dataTransfer?.files ?? [])]);
      }}
    >
      <label class="grow">
        <span class="sr-only">Message</span>
        <textarea
          name="message"
          rows={2}
          placeholder="Write a message (Enter sends, Shift+Enter for a new line); drop files here"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void send().catch(show);
            }
          }}
        />
      </label>
      <label class="file-pick">
        Attach
        <input type="file" multiple name="files" onChange={(e) => setFiles([...files, ...Array.from(e.currentTarget.files ?? [])])} />
      </label>
      <Action type="submit" kind="primary" label="Send" busyLabel="Sending…" testid="send" onRun={send} />
      {files.length > 0 && (
        <ul class="picked" aria-label="Files to send">
          {files.map((f, i) => (
            <li>
              {f.name} ({bytes(f.size)}) <button type="button" aria-label={`Remove ${f.name}`} onClick={() => setFiles(files.filter((_, j) => j !== i))}>×</button>
            </li>
          ))}
        </ul>
      )}
      {progress !== null && <progress max={1} value={progress} aria-label="Uploading" data-testid="upload-progress" />}
    </form>
  );
}

function Members(props: { conv: ConversationSummary }): JSX.Element {
  const c = client.value!;
  const [add, setAdd] = useState('');
  const [open, setOpen] = useState(false);
  return (
    <details class="members" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{props.conv.members.length} members</summary>
      <ul>
        {props.conv.members.map((m) => (
          <li>
            {shortName(c, m)}
            {m !== c.user && props.conv.status === 'active' && (
              <Action label="Remove" busyLabel="Removing…" kind="danger" onRun={async () => { await c.removeMember(props.conv.id, m); refresh(); }} />
            )}
          </li>
        ))}
      </ul>
      {props.conv.status === 'active' && <Rename conv={props.conv} />}
      {props.conv.status === 'active' && (
        <form class="inline" aria-label="Add a member" onSubmit={(e) => e.preventDefault()}>
          <label>Add<input name="add" value={add} onInput={(e) => setAdd(e.currentTarget.value)} placeholder="name" /></label>
          <Action type="submit" label="Add" busyLabel="Adding…" testid="add-member" onRun={async () => { await c.addMember(props.conv.id, add); setAdd(''); refresh(); }} />
        </form>
      )}
    </details>
  );
}

function Rename(props: { conv: ConversationSummary }): JSX.Element {
  const c = client.value!;
  const [name, setName] = useState(props.conv.name ?? '');
  return (
    <form class="inline" aria-label="Name this conversation" onSubmit={(e) => e.preventDefault()}>
      <label>Name<input name="conversation-name" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. Quarterly plan" /></label>
      <Action type="submit" label="Rename" busyLabel="Renaming…" testid="rename" onRun={async () => { await c.renameConversation(props.conv.id, name); refresh(); }} />
    </form>
  );
}
