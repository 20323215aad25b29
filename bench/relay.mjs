// The baseline for the delivery benchmark: a raw `ws` relay. A client connects with ?id=N&peer=M; every binary
// frame it sends is forwarded to its peer's socket. No authentication, no storage, no decoding.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
const sockets = new Map();
wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const id = url.searchParams.get('id');
  const peer = url.searchParams.get('peer');
  sockets.set(id, ws);
  ws.on('message', (data) => sockets.get(peer)?.send(data, { binary: true }));
  ws.on('close', () => sockets.delete(id));
});
wss.on('listening', () => process.stdout.write(`${JSON.stringify({ listening: `ws://127.0.0.1:${wss.address().port}` })}\n`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
