// The protocol's floor for the delivery benchmark (issue #20): an "ack relay" that does, per message, the same four
// frames as Sealpost — the sender's `send`, the server's `ok`, the `push` to the recipient, the recipient's `ack` — in
// the same encoding (CBOR frames, decoded and checked with the same schema, protocol/frames.ts), with no
// authentication, no storage and no crypto. A client connects with ?id=N&peer=M (a pair) or ?id=N&group=G (fan-out:
// a send goes to every other member of G); its `auth` is answered without a check; each `send` is acknowledged and
// pushed to its peer(s) as a queue item with the next sequence number; acks are read and dropped.
import { WebSocketServer } from 'ws';
import { decodeClientFrame, encodeFrame } from '../packages/protocol/dist/index.js';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1024 * 1024 });
const sockets = new Map();
const groups = new Map();
let seq = 0;
wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const id = url.searchParams.get('id');
  const peer = url.searchParams.get('peer');
  const group = url.searchParams.get('group');
  sockets.set(id, ws);
  if (group) {
    if (!groups.has(group)) groups.set(group, new Set());
    groups.get(group).add(ws);
  }
  ws.on('message', (data) => {
    const f = decodeClientFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (f.t === 'auth') return ws.send(encodeFrame({ t: 'ok', r: 0 }));
    if (f.t !== 'send') return; // acks: read, nothing kept
    ws.send(encodeFrame({ t: 'ok', r: f.r, epoch: f.e }));
    const item = { seq: ++seq, c: f.c, k: 'app', e: f.e, id: f.id, from: 'dev_ackrelay______________', fromUser: 'relay@localhost', at: Date.now(), p: f.p };
    if (!group) return sockets.get(peer)?.send(encodeFrame({ t: 'push', item }));
    for (const other of groups.get(group)) if (other !== ws) other.send(encodeFrame({ t: 'push', item: { ...item, seq: ++seq } }));
  });
  ws.on('close', () => {
    sockets.delete(id);
    groups.get(group)?.delete(ws);
  });
});
wss.on('listening', () => process.stdout.write(`${JSON.stringify({ listening: `ws://127.0.0.1:${wss.address().port}` })}\n`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
