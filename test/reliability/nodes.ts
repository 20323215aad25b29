// Server nodes as separate processes (the built CLI), for tests that kill them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../packages/cli/bin/sealpost.js', import.meta.url));

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  /** The admin token, when this start created it. */
  token?: string;
}

/** `sealpost server --json …` on 127.0.0.1:0 unless `args` says otherwise; resolves when it listens. */
export function startNode(args: string[]): Promise<NodeProcess> {
  const listen = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const child = spawn(process.execPath, [bin, 'server', ...listen, '--json', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  let token: string | undefined;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 30_000);
    rl.on('line', (line) => {
      const m = JSON.parse(line) as { adminToken?: string; listening?: string };
      if (m.adminToken) token = m.adminToken;
      if (m.listening) {
        clearTimeout(timer);
        resolve({ child, url: m.listening, ...(token ? { token } : {}) });
      }
    });
  });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}
