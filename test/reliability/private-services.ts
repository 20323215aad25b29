// A private PostgreSQL and a private NATS server, each on its own loopback port and folder, that a test may really
// stop and start again during traffic (the shared services other tests use are never touched). Built from the
// machine's own binaries; `undefined` (and the test skips, saying why) where they are not installed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateService {
  url: string;
  /** Stop the service, keep it down for `ms`, start it again on the same port and data. */
  restart(ms: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function postgresBin(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    const root = '/usr/lib/postgresql';
    const version = existsSync(root) ? readdirSync(root).sort().at(-1) : undefined;
    return version ? join(root, version, 'bin') : undefined;
  }
}

/** Why a private PostgreSQL cannot run here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  const bin = postgresBin();
  if (!bin || !existsSync(join(bin, 'initdb'))) return 'PostgreSQL server binaries (initdb, pg_ctl) are not installed';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      execFileSync('runuser', ['--help'], { stdio: 'ignore' });
    } catch {
      return 'running as root without a postgres user and runuser (PostgreSQL refuses to run as root)';
    }
  }
  return undefined;
}

/** initdb into a new folder and start PostgreSQL on a free loopback port, trust auth. */
export async function startPrivatePostgres(): Promise<PrivateService> {
  const bin = postgresBin()!;
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) =>
    asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { stdio: 'ignore' }) : execFileSync(join(bin, tool), args, { stdio: 'ignore' });
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`;
  const start = () => run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
  const stop = (mode: string) => run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart(ms) {
      stop('fast');
      await sleep(ms);
      start();
    },
    async stop() {
      try {
        stop('immediate');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Why a private NATS server cannot run here, or undefined when it can. */
export function privateNatsUnavailable(): string | undefined {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'nats-server is not installed';
  }
}

/** nats-server on a free loopback port (no JetStream: the bus needs plain subjects only). */
export async function startPrivateNats(): Promise<PrivateService> {
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (up) return;
      await sleep(50);
    }
    throw new Error('nats-server did not start');
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    async restart(ms) {
      await stop();
      await sleep(ms);
      await start();
    },
    stop,
  };
}
