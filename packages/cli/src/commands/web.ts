// `sealpost web verify`: code transparency for the web client. The build is reproducible (same commit, same bytes),
// and every server lists the hashes of the files it serves (GET /v1/web/manifest); this compares them with a build
// of the same version made here, so an operator cannot quietly serve a different app to read messages.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { SealpostError, VERSION } from '@sealpost/protocol';
import { HttpApi, normaliseServerUrl } from '@sealpost/client';
import { jsonOption, required, serverOption, type JsonOpt } from '../common.js';
import { makeOutput } from '../output.js';

/** The web client built with this installation (packages/web/dist). */
export function builtWebClient(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@sealpost/web/package.json')), 'dist');
}

export function registerWebCommands(program: Command): void {
  const web = program.command('web').description('the web client: check what a server serves');
  web
    .command('verify')
    .description('compare the web client a server serves with a local build of the same version (code transparency)')
    .addOption(serverOption())
    .option('--build <dir>', 'the local build to compare with (default: the one built with this installation)')
    .addOption(jsonOption())
    .action(async (o: { server?: string; build?: string } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      const server = normaliseServerUrl(required(o.server ?? process.env.SEALPOST_SERVER, '--server', 'SEALPOST_SERVER'));
      const { readBuild, hashAsset } = await import('@sealpost/server');
      const dir = o.build ?? builtWebClient();
      const local = new Map([...readBuild(dir)].map(([path, body]) => [path, hashAsset(body)]));
      const served = await new HttpApi(server).request<{ version?: unknown; files?: unknown }>('GET', '/v1/web/manifest', undefined, 'none');
      const files = served.files;
      if (typeof served.version !== 'string' || typeof files !== 'object' || files === null || Object.keys(files).length > 1000) {
        throw new SealpostError('PROTOCOL_ERROR', `${server} answered /v1/web/manifest with something that is not a web manifest`);
      }
      if (served.version !== VERSION) {
        throw new SealpostError('INVALID_INPUT', `${server} serves version ${served.version.slice(0, 40)}; this build is ${VERSION}: build that version to compare`);
      }
      const remote = new Map(Object.entries(files as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      const differ: string[] = [];
      for (const [path, hash] of remote) if (local.get(path) !== hash) differ.push(local.has(path) ? `${path}: different content` : `${path}: not in the local build`);
      for (const path of local.keys()) if (!remote.has(path)) differ.push(`${path}: not served`);
      if (differ.length > 0) {
        throw new SealpostError('WEB_APP_MISMATCH', `${server} serves a web client that differs from the local build of ${VERSION}: ${differ.slice(0, 10).join('; ')}${differ.length > 10 ? `; and ${differ.length - 10} more` : ''}`);
      }
      out.result({ server, version: VERSION, files: local.size, matches: true }, `${server} serves the same web client as the local build of ${VERSION} (${local.size} files, SHA-256 each).`);
    });
}
