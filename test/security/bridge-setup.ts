// One Sealpost user with a device profile and its bridge running: the target of the bridge attack tests.
import { startTestServer, type TestServer } from '../helpers.js';
import { startBridgeProcess, stopBridge, type BridgeProcess } from '../bridge-process.js';
import { connect } from 'node:net';

export async function bridgeTarget(): Promise<{ server: TestServer; bridge: BridgeProcess; profile: string; password: string; close(): Promise<void> }> {
  const server = await startTestServer();
  const bob = await server.enroll('bob');
  await bob.client.sync();
  await bob.client.close();
  const bridge = await startBridgeProcess(bob.profile);
  return {
    server,
    bridge,
    profile: bob.profile,
    password: bridge.password!,
    async close() {
      await stopBridge(bridge);
      await server.close();
    },
  };
}

/** Writes these lines to the bridge's IMAP port and returns what it answered within `ms`. */
export function imapTalk(port: number, lines: string[], ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('connect', () => {
      for (const l of lines) s.write(`${l}\r\n`);
    });
    const t = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, ms);
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}
