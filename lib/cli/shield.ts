#!/usr/bin/env node
// The `shield` command line. Every failure ends as one line `shield: CODE: message` on stderr and
// the exit status of exit-status.ts.
import { Command, CommanderError } from 'commander';
import { volumeCommand } from './volume-commands.js';
import { protectCommand } from './protect-command.js';
import { runCommand } from './run-command.js';
import { attestCommand } from './attest-command.js';
import { casCommand, identityCommand, measureCommand, sessionCommand } from './cas-commands.js';
import { demoCommand } from './demo-command.js';
import { sconifyCommand } from './sconify-command.js';
import { createRequire } from 'node:module';
import { errorLine, exitStatusOfError, USAGE_STATUS } from '../file/exit-status.js';

const program = new Command('shield')
  .description('shieldfs: encrypted, integrity-checked, rollback-protected files for confidential services')
  .version(version())
  // `shield run -- cmd --opt`: options after the command are the command's (run's passThroughOptions).
  .enablePositionalOptions();
program.addCommand(volumeCommand());
program.addCommand(protectCommand());
program.addCommand(runCommand());
program.addCommand(attestCommand());
for (const command of [casCommand(), identityCommand(), sessionCommand(), measureCommand(), demoCommand()]) program.addCommand(command);
program.addCommand(sconifyCommand());

// Commander prints a whole help text on stderr when a command that only has subcommands is given
// none; we say so in one line instead (`missing` remembers which command it was).
let missing: Command | null = null;
for (const command of allCommands(program)) {
  command.exitOverride().configureOutput({
    writeErr: () => {
      missing = command;
    },
    outputError: (message) => {
      // One line, always: commander puts its "(Did you mean …?)" on a line of its own.
      const oneLine = message.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ');
      process.stderr.write(`shield: EINVAL: ${oneLine} (see \`${commandPath(command)} --help\`)\n`);
    },
  });
}

// A reader that goes away (`shield volume read … | head`) fails the pending write with EPIPE, which
// `read` reports as its one line; without a listener the stream would also crash the process.
process.stdout.on('error', () => {});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.help' && error.exitCode !== 0 && missing) {
      const which: Command = missing;
      process.stderr.write(`shield: EINVAL: missing command: ${which.commands.map((c) => c.name()).join(' | ')} ` +
        `(see \`${commandPath(which)} --help\`)\n`);
    }
    // --help and --version exit 0; usage errors were already printed.
    process.exitCode = error.exitCode === 0 ? 0 : USAGE_STATUS;
  } else {
    process.stderr.write(errorLine(error).line + '\n');
    process.exitCode = exitStatusOfError(error);
  }
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
