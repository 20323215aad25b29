// The load generator for Prosody as a peer in `npm run bench:delivery` (issue #20), in its own process: raw XMPP
// stanzas over TCP (RFC 6120: stream, SASL ANONYMOUS, resource binding), no library in between.
//   node bench/prosody-load.mjs pairs PORT CLIENTS SECONDS SIZE   1:1 chat messages in pairs, WINDOW per sender
//   node bench/prosody-load.mjs muc PORT MEMBERS SECONDS SIZE     one sender to a MUC room of MEMBERS occupants
// Prints {"ready":true} once every session is up, waits for a line on stdin, runs the loop, prints the result as JSON.
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fanOutLoop } from './lib.mjs';

const [mode, port, count, seconds, size] = process.argv.slice(2);
const PORT = Number(port);
const N = Number(count);
const SECONDS = Number(seconds);
const SIZE = Number(size);
const WINDOW = mode === 'muc' ? 4 : 2;
const HEADER = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/** One XMPP session: waits for text patterns while connecting; afterwards hands each complete <message> to onMessage. */
function session() {
  return new Promise((resolve, reject) => {
    const sock = net.connect(PORT, '127.0.0.1');
    sock.setNoDelay(true);
    sock.setEncoding('utf8');
    let buf = '';
    let waiting;
    const s = { sock, jid: '', onMessage: () => {} };
    const waitFor = (re) =>
      new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`xmpp: timed out waiting for ${re}`)), 20_000);
        waiting = () => {
          const m = re.exec(buf);
          if (!m) return;
          clearTimeout(t);
          buf = buf.slice(m.index + m[0].length);
          waiting = undefined;
          res(m);
        };
        waiting();
      });
    sock.on('data', (d) => {
      buf += d;
      if (waiting) return waiting();
      // Messages: each complete stanza once; the rest waits for more data.
      let end;
      while ((end = buf.indexOf('</message>')) !== -1) {
        const stanza = buf.slice(0, end);
        buf = buf.slice(end + 10);
        s.onMessage(stanza);
      }
      if (buf.length > 1_000_000) buf = buf.slice(-100_000); // presence and the like, never read
    });
    sock.on('error', reject);
    sock.on('connect', async () => {
      try {
        sock.write(HEADER);
        await waitFor(/<\/stream:features>/);
        sock.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
        await waitFor(/<success[^>]*\/>|<success[^>]*>[^<]*<\/success>/);
        sock.write(HEADER);
        await waitFor(/<\/stream:features>/);
        sock.write("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        s.jid = (await waitFor(/<jid>([^<]+)<\/jid>/))[1];
        resolve(s);
      } catch (err) {
        reject(err);
      }
    });
  });
}

const pad = (text) => text + 'x'.repeat(Math.max(0, SIZE - text.length));
const bodyOf = (stanza) => /<body>(\d+(?:\.\d+)?):(\d+):/.exec(stanza);
const pct = (xs, p) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);

async function pairs() {
  const all = [];
  for (let i = 0; i < N; i++) all.push(await session());
  const lat = [];
  let delivered = 0;
  let stop = false;
  const loops = [];
  for (let i = 0; i + 1 < all.length; i += 2) {
    const [a, b] = [all[i], all[i + 1]];
    loops.push(() =>
      new Promise((resolve) => {
        let inflight = 0;
        let n = 0;
        const pump = () => {
          if (stop) return inflight === 0 && resolve();
          while (inflight < WINDOW) {
            inflight++;
            a.sock.write(`<message to='${b.jid}' type='chat'><body>${pad(`${performance.now()}:${n++}:`)}</body></message>`);
          }
        };
        b.onMessage = (stanza) => {
          const m = bodyOf(stanza);
          if (!m) return;
          delivered++;
          lat.push(performance.now() - Number(m[1]));
          inflight--;
          pump();
        };
        pump();
        setTimeout(() => {
          stop = true;
          if (inflight === 0) resolve();
        }, SECONDS * 1000);
      }),
    );
  }
  return { all, run: async () => {
    const t0 = performance.now();
    await Promise.all(loops.map((l) => l()));
    return { delivered, messages: delivered, seconds: (performance.now() - t0) / 1000, p50: pct(lat, 50), p99: pct(lat, 99) };
  } };
}

async function muc() {
  const room = `bench${Date.now()}@conference.localhost`;
  const all = [];
  for (let i = 0; i <= N; i++) {
    const s = await session();
    // Join: the room answers with this occupant's own presence (status 110) after everyone else's.
    const joined = new Promise((res) => {
      const onData = (d) => {
        if (String(d).includes("code='110'") || String(d).includes('code="110"')) {
          s.sock.off('data', onData);
          res();
        }
      };
      s.sock.on('data', onData);
    });
    s.sock.write(`<presence to='${room}/m${i}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await joined;
    all.push(s);
  }
  const [sender, ...members] = all;
  return { all, run: async () => {
    const r = await fanOutLoop({
      members: members.length,
      window: WINDOW,
      seconds: SECONDS,
      send: (id, at) => sender.sock.write(`<message to='${room}' type='groupchat'><body>${pad(`${at}:${id}:`)}</body></message>`),
      hook: (onDelivery) => {
        for (const m of members) {
          m.onMessage = (stanza) => {
            const b = bodyOf(stanza);
            if (b) onDelivery(Number(b[2]), Number(b[1]));
          };
        }
      },
    });
    return { delivered: r.deliveries, deliveries: r.deliveries, messages: r.messages, seconds: r.seconds, p50: pct(r.lat, 50), p99: pct(r.lat, 99) };
  } };
}

const { all, run } = mode === 'muc' ? await muc() : await pairs();
process.stdout.write(`${JSON.stringify({ ready: true, sessions: all.length })}\n`);
await new Promise((res) => createInterface({ input: process.stdin }).once('line', res));
const result = await run();
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const s of all) s.sock.destroy();
process.exit(0);
