// The app's frame: what phase it is in (setting up, locked, ready, wiped), and once ready the navigation, the
// connection state, the key-transparency alarm and the view the user chose.
import type { JSX } from 'preact';
import { acknowledgeAlarm, alarm, client, connection, phase, problem, restartNote, route, storageNote, type Route } from './state.js';
import { Welcome, Unlock } from './views/Welcome.js';
import { Chats } from './views/Chats.js';
import { MailView } from './views/Mail.js';
import { Devices } from './views/Devices.js';
import { Verify } from './views/Verify.js';
import { Search } from './views/Search.js';
import { ProblemBanner } from './views/common.js';

export function App(): JSX.Element {
  const p = phase.value;
  if (p === 'loading') return <main class="center" aria-busy="true"><p>Opening Sealpost…</p></main>;
  if (p === 'welcome') return <Welcome />;
  if (p === 'unlock') return <Unlock />;
  if (p === 'locked') return <Ended title="Sealpost is open in another tab" text="Use it there, or close that tab and reload this one." />;
  if (p === 'wiped') return <Ended title="This device was wiped" text="Your organisation wiped this device. Everything Sealpost kept in this browser is erased." />;
  if (p === 'revoked') return <Ended title="This device was removed" text="This browser was removed from your account, and what Sealpost kept here is erased. Link it again from another device to use it." />;
  return <Ready />;
}

function Ended(props: { title: string; text: string }): JSX.Element {
  return (
    <main class="center">
      <h1>{props.title}</h1>
      <p>{props.text}</p>
    </main>
  );
}

const tabs: { label: string; route: Route }[] = [
  { label: 'Chats', route: { view: 'chats' } },
  { label: 'Mail', route: { view: 'mail', folder: 'inbox' } },
  { label: 'Devices', route: { view: 'devices' } },
  { label: 'Safety numbers', route: { view: 'verify' } },
  { label: 'Search', route: { view: 'search' } },
];

function Ready(): JSX.Element {
  const c = client.value!;
  const r = route.value;
  const conn = connection.value;
  return (
    <div class="shell">
      <header class="top">
        <span class="brand">Sealpost</span>
        <nav aria-label="Sections">
          {tabs.map((t) => (
            <button type="button" class={r.view === t.route.view ? 'tab active' : 'tab'} aria-current={r.view === t.route.view ? 'page' : undefined} onClick={() => (route.value = t.route)}>
              {t.label}
            </button>
          ))}
        </nav>
        <span class={`conn ${conn}`} role="status" aria-live="polite" data-testid="connection">
          {conn === 'online' ? 'Online' : conn === 'connecting' ? 'Connecting…' : 'Offline — reconnecting…'}
        </span>
        <span class="me" title={c.user}>{c.user}</span>
      </header>
      {alarm.value && (
        <div class="alarm" role="alert" data-testid="kt-alarm">
          <strong>Key-transparency alarm.</strong> The server’s public directory shows a change to your account that this
          device did not make — a device or key you did not add may be able to read new messages. Tell your security
          team.
          <ul>{alarm.value.problems.map((x) => <li>{x}</li>)}</ul>
          <button type="button" onClick={acknowledgeAlarm}>I have reported it</button>
        </div>
      )}
      {storageNote.value && <p class="note" role="note">{storageNote.value}</p>}
      {restartNote.value && (
        <div class="note" role="alert" data-testid="restart-note">
          {restartNote.value}. <button type="button" onClick={() => (restartNote.value = null)}>Understood</button>
        </div>
      )}
      {problem.value && <ProblemBanner />}
      <main class="content">
        {r.view === 'chats' && <Chats route={r} />}
        {r.view === 'mail' && <MailView route={r} />}
        {r.view === 'devices' && <Devices />}
        {r.view === 'verify' && <Verify route={r} />}
        {r.view === 'search' && <Search route={r} />}
      </main>
    </div>
  );
}
