// The `sealpost` command line: one file per command group in commands/ (server, admin, devices, profile, verify,
// chat, mail, files). Scriptable: every command takes --json (one JSON object per line on stdout); failures exit
// non-zero with a stable error code on stderr.
import { Command, CommanderError } from 'commander';
import { SealpostError, VERSION } from '@sealpost/protocol';
import { registerAdminCommands } from './commands/admin.js';
import { registerChatCommands } from './commands/chat.js';
import { registerDeviceCommands } from './commands/devices.js';
import { registerFileCommands } from './commands/files.js';
import { registerMailCommands } from './commands/mail.js';
import { registerProfileCommands } from './commands/profile.js';
import { registerServerCommand } from './commands/server.js';
import { registerVerifyCommands } from './commands/verify.js';
import { reportError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('sealpost')
    .description('Sealpost: end-to-end encrypted chat on MLS, self-hosted')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerServerCommand(program);
  registerAdminCommands(program);
  registerDeviceCommands(program);
  registerProfileCommands(program);
  registerVerifyCommands(program);
  registerChatCommands(program);
  registerMailCommands(program);
  registerFileCommands(program);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const program = buildProgram();
  if (json) program.configureOutput({ writeErr: () => {} });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      const message = err.message.replace(/^error: /, '');
      if (json) return reportError(new SealpostError('INVALID_INPUT', message), true);
      return err.exitCode || 2;
    }
    return reportError(err, json);
  }
}
