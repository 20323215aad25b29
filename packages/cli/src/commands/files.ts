// `sealpost files get`: download, verify and decrypt an attachment of a chat message or mail.
import type { Command } from 'commander';
import { jsonOption, profileOption, withClient, type JsonOpt } from '../common.js';
import { size } from '../format.js';
import { makeOutput } from '../output.js';
import { withProgress } from '../progress.js';
import { oneLine } from '../terminal-safe.js';

export function registerFileCommands(program: Command): void {
  // ---- files --------------------------------------------------------------------------------------------------
  const files = program.command('files').description('attachments of chat messages and mail');
  files
    .command('get <attachmentId>')
    .description('download, verify and decrypt an attachment')
    .addOption(profileOption())
    .requiredOption('--out <path>', 'where to save it')
    .option('--force', 'replace a file that is already there')
    .addOption(jsonOption())
    .action(async (id: string, o: { profile?: string; out: string; force?: boolean } & JsonOpt) => {
      const out = makeOutput(Boolean(o.json));
      await withClient(o, out, async (c) => {
        const f = await withProgress('download', out.json, (p) => c.saveAttachment(id, o.out, { ...p, overwrite: Boolean(o.force) }));
        out.result({ ...f, out: o.out }, `saved ${oneLine(f.name)} (${size(f.size)}) to ${o.out}`);
      });
    });
}
