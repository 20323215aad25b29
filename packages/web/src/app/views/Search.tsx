// Search in this device's own history (chat and mail). It runs over the local, encrypted store: the server is never
// asked, and nothing about the search is kept anywhere else.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { client, route, shortName, type Route } from '../state.js';
import { time } from './common.js';

export function Search(props: { route: Extract<Route, { view: 'search' }> }): JSX.Element {
  const c = client.value!;
  const [q, setQ] = useState(props.route.query ?? '');
  const hits = q.trim().length >= 2 ? c.search(q.slice(0, 200)) : [];
  return (
    <div class="single">
      <h2>Search</h2>
      <form role="search" onSubmit={(e) => e.preventDefault()}>
        <label>Search your messages and mail on this device<input type="search" name="q" value={q} onInput={(e) => setQ(e.currentTarget.value)} /></label>
      </form>
      <ul class="hits" data-testid="search-results">
        {q.trim().length >= 2 && hits.length === 0 && <li class="muted">Nothing found.</li>}
        {hits.map((h) =>
          h.kind === 'chat' ? (
            <li><button type="button" onClick={() => (route.value = { view: 'chats', conversation: h.message.conversation })}>
              <span class="from">{shortName(c, h.message.from)}</span> <time>{time(h.message.sentAt)}</time> — {h.message.text.slice(0, 140)}
            </button></li>
          ) : (
            <li><button type="button" onClick={() => (route.value = { view: 'mail', folder: h.mail.from === c.user ? 'sent' : 'inbox', mail: h.mail.id })}>
              ✉ <span class="from">{shortName(c, h.mail.from)}</span> <time>{time(h.mail.date)}</time> — {h.mail.subject}
            </button></li>
          ),
        )}
      </ul>
    </div>
  );
}
