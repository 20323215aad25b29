// How the CLI talks: with --json one JSON object per line on stdout; an error is one line on stderr — `error: … [CODE]`,
// or with --json instead {"error":{"code","message"}} — and a non-zero exit code on every failure.
import { SealpostError, toSealpostError } from '@sealpost/protocol';
import { oneLine, terminalSafe } from './terminal-safe.js';

export interface Output {
  json: boolean;
  /** A result: JSON line with --json, else the human text. */
  result(value: Record<string, unknown>, human: string): void;
  info(line: string): void;
  warn(line: string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${terminalSafe(human)}\n`);
    },
    info(line) {
      if (!json) process.stdout.write(`${terminalSafe(line)}\n`);
    },
    warn(line) {
      process.stderr.write(`warning: ${oneLine(line)}\n`);
    },
  };
}

export function reportError(err: unknown, json: boolean): number {
  const e = err instanceof SealpostError ? err : toSealpostError(err);
  const message = e.message.replace(/\s+/g, ' ').trim();
  // Once: a script reading --json output gets exactly one JSON line, a person exactly one sentence.
  if (json) process.stderr.write(`${JSON.stringify({ error: { code: e.code, message } })}\n`);
  else process.stderr.write(`error: ${oneLine(message)} [${e.code}]\n`);
  if (e.code === 'INTERNAL' && process.env.SEALPOST_DEBUG) process.stderr.write(`${(e.cause as Error | undefined)?.stack ?? e.stack}\n`);
  return 1;
}
