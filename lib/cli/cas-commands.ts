// `shield cas serve|id|audit`, `shield identity create|show`, `shield session …` and `shield measure`:
// the policy service and its clients on the command line (README, "The policy service"). The service's
// modules load only when a command runs, so `--help` costs nothing.
import { sign } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { shieldError } from '../file/fs-errors.js';
import { usageError } from '../file/exit-status.js';
import { withConnection, type ClientOptions } from './cas-connection.js';

interface StoreCommandOptions { store: string; masterKeyFile?: string; json?: boolean }

const MAX_SESSION_FILE_BYTES = 256 << 10;

export function casCommand(): Command {
  const cas = new Command('cas').description('the policy and key service (configuration and attestation service)');
  cas.command('serve')
    .description('run the policy service: HTTPS (TLS 1.3) on --listen; prints `listening on https://HOST:PORT key <fingerprint>` when ready')
    .requiredOption('--store <dir|etcd-url>', 'where the state lives: a directory (embedded, SQLite) or etcd://HOST:PORT[,…][/PREFIX]')
    .option('--listen <host:port>', 'address to listen on (port 0: any free port)', '127.0.0.1:8081')
    .option('--master-key-file <file>', 'the key that encrypts the state at rest (default for a directory store: DIR/master.key, made on first start)')
    .option('--json', 'print the ready line as {"url","key"}')
    .action((options: StoreCommandOptions & { listen: string }) => serveCommand(options));
  cas.command('id')
    .description('print the service\'s key fingerprint (what clients pin) without starting it')
    .requiredOption('--store <dir|etcd-url>', 'the service\'s store')
    .option('--master-key-file <file>', 'the master key (default for a directory store: DIR/master.key)')
    .option('--json', 'print {"key"}')
    .action(async (options: StoreCommandOptions) => {
      const { service, store } = await openService(options);
      await store.close();
      print(options, { key: service.identity.fingerprint }, () => service.identity.fingerprint);
    });
  cas.command('audit')
    .description('show the audit log from the store; with --verify, check its hash chain and signatures (offline)')
    .requiredOption('--store <dir|etcd-url>', 'the service\'s store')
    .option('--master-key-file <file>', 'the master key (default for a directory store: DIR/master.key)')
    .option('--verify', 'check the chain and every signature; exit 3 (EINTEGRITY) on the first problem')
    .option('--json', 'print JSON')
    .action((options: StoreCommandOptions & { verify?: boolean }) => auditCommand(options));
  return cas;
}

async function openService(options: StoreCommandOptions) {
  const { openServiceState } = await import('../cas/server.js');
  const { PolicyService } = await import('../cas/service.js');
  const { store, sealer } = await openServiceState({ store: options.store, masterKeyFile: options.masterKeyFile });
  try {
    return { service: await PolicyService.open(store, sealer), store, sealer };
  } catch (error) {
    await store.close();
    throw error;
  }
}

async function serveCommand(options: StoreCommandOptions & { listen: string }): Promise<void> {
  const { serve, parseListen } = await import('../cas/server.js');
  try {
    parseListen(options.listen);
  } catch (error) {
    throw usageError(error);
  }
  const { service, store, sealer } = await openService(options);
  const running = await serve(service, store, options.listen);
  process.stdout.write((options.json ? JSON.stringify({ url: running.url, key: running.fingerprint }) : `listening on ${running.url} key ${running.fingerprint}`) + '\n');
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running.close().finally(() => sealer.wipe()).then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

async function auditCommand(options: StoreCommandOptions & { verify?: boolean }): Promise<void> {
  const { verifyAuditChain } = await import('../cas/audit.js');
  const { DATABASE_FILE } = await import('../cas/sqlite-store.js');
  // Reading a log must not make a store: a mistyped directory is an error, not an empty log.
  if (!/^etcd:\/\//i.test(options.store) && !existsSync(join(options.store, DATABASE_FILE))) {
    throw shieldError('ENOENT', `${options.store} holds no policy service store (no ${DATABASE_FILE}); give the --store of \`shield cas serve\``, options.store);
  }
  const { service, store } = await openService(options);
  try {
    const entries = await service.auditEntries();
    const problem = options.verify ? verifyAuditChain(entries, service.identity.publicKey) : null;
    print(options, { key: service.identity.fingerprint, entries, ...(options.verify ? { ok: problem === null, problem } : {}) }, () => [
      ...entries.map(({ record: r }) => `${String(r.seq).padStart(6)} ${r.time} ${r.action.padEnd(7)} ${r.outcome.padEnd(7)} ${r.session}` +
        `${r.service ? `/${r.service}` : ''} ${r.sessionHash ? r.sessionHash.slice(0, 16) + '…' : '-'} by ${r.actor ? r.actor.slice(0, 16) + '…' : 'instance'}` +
        `${r.measurement ? ` measurement ${r.measurement.slice(0, 16)}…` : ''}${r.code ? ` ${r.code}: ${r.reason}` : ''}`),
      ...(options.verify ? [problem === null ? `ok: ${entries.length} entries, chain and signatures verified with service key ${service.identity.fingerprint}` : `FAILED at entry ${problem.seq}: ${problem.problem}`] : []),
    ].join('\n'));
    if (problem) throw shieldError('EINTEGRITY', `audit log entry ${problem.seq}: ${problem.problem}`);
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Identities

export function identityCommand(): Command {
  const identity = new Command('identity').description('client identities: a key pair whose TLS client certificate names you to the policy service');
  identity.command('create')
    .description('make a new identity file (mode 0600) and print its fingerprint; an existing file is never overwritten')
    .option('--identity <file>', 'where (default: $SHIELD_IDENTITY, else ~/.shieldfs/identity.pem)')
    .option('--json', 'print {"fingerprint","file"}')
    .action(async (options: { identity?: string; json?: boolean }) => {
      const { createIdentityFile, defaultIdentityPath } = await import('../cas/identity.js');
      const file = options.identity ?? defaultIdentityPath();
      const created = await createIdentityFile(file);
      print(options, { fingerprint: created.fingerprint, file }, () => created.fingerprint);
    });
  identity.command('show')
    .description('print the fingerprint of an identity (what sessions name in access_policy and approvals)')
    .option('--identity <file>', 'which (default: $SHIELD_IDENTITY, else ~/.shieldfs/identity.pem)')
    .option('--json', 'print {"fingerprint","file"}')
    .action(async (options: { identity?: string; json?: boolean }) => {
      const { readIdentityFile, defaultIdentityPath } = await import('../cas/identity.js');
      const file = options.identity ?? defaultIdentityPath();
      const loaded = readIdentityFile(file);
      print(options, { fingerprint: loaded.fingerprint, file }, () => loaded.fingerprint);
    });
  return identity;
}

// ---------------------------------------------------------------------------------------------
// Sessions

function withClient(command: Command): Command {
  return command
    .option('--cas <url>', 'the policy service, https://HOST:PORT (default: $SHIELD_CAS)')
    .option('--cas-key <fingerprint>', 'its pinned key fingerprint (default: $SHIELD_CAS_KEY)')
    .option('--identity <file>', 'your identity (default: $SHIELD_IDENTITY, else ~/.shieldfs/identity.pem)')
    .option('--json', 'print JSON');
}

function readSessionFile(file: string): string {
  const stats = statSync(file, { throwIfNoEntry: false });
  if (!stats) throw shieldError('ENOENT', `session file ${file} does not exist`, file);
  if (!stats.isFile()) throw shieldError('EINVAL', `session file ${file} is not a regular file`, file);
  if (stats.size > MAX_SESSION_FILE_BYTES) throw shieldError('EINVAL', `session file ${file} is ${stats.size} bytes; a session is at most ${MAX_SESSION_FILE_BYTES}`, file);
  return readFileSync(file, 'utf8');
}

export function sessionCommand(): Command {
  const session = new Command('session').description('the owners\' policies (sessions) kept by the policy service');
  withClient(session.command('create <file>'))
    .description('create a session from a YAML file and print its hash')
    .action((file: string, options: ClientOptions) => withConnection(options, async ({ client }) => {
      const text = readSessionFile(file);
      await checkLocally(text, file);
      const result = await client.call<{ name: string; hash: string }>('POST', '/v1/sessions', { yaml: text });
      print(options, result, () => result.hash);
    }));
  withClient(session.command('update <file>'))
    .description('replace a session by the YAML file (its `predecessor` is the hash of the version it replaces) and print the new hash')
    .action((file: string, options: ClientOptions) => withConnection(options, async ({ client }) => {
      const text = readSessionFile(file);
      await checkLocally(text, file);
      const result = await client.call<{ name: string; hash: string }>('PUT', '/v1/sessions', { yaml: text });
      print(options, result, () => result.hash);
    }));
  withClient(session.command('show <name>'))
    .description('print the session (secrets redacted), its hash, executions and approvals')
    .option('--hash <hash>', 'an earlier version')
    .action((name: string, options: ClientOptions & { hash?: string }) => withConnection(options, async ({ client }) => {
      const query = `name=${encodeURIComponent(name)}${options.hash ? `&hash=${encodeURIComponent(options.hash)}` : ''}`;
      const view = await client.call<{ hash: string; head: string; yaml: string; executions: Record<string, number>; approvals: string[]; creator: string }>('GET', `/v1/session?${query}`);
      print(options, view, () => `# hash ${view.hash}${view.hash === view.head ? ' (active)' : ` (the active version is ${view.head})`}\n` +
        `# creator ${view.creator}\n# executions ${Object.entries(view.executions).map(([s, n]) => `${s}=${n}`).join(' ') || '-'}\n` +
        `# approvals ${view.approvals.length}\n${view.yaml.trimEnd()}`);
    }));
  withClient(session.command('history <name>'))
    .description('list every version of the session, oldest first')
    .action((name: string, options: ClientOptions) => withConnection(options, async ({ client }) => {
      const versions = await client.call<{ hash: string; author: string; created: string }[]>('GET', `/v1/session/history?name=${encodeURIComponent(name)}`);
      print(options, versions, () => versions.map((v) => `${v.hash} ${v.created} by ${v.author}`).join('\n'));
    }));
  withClient(session.command('sign <name>'))
    .description('approve the session\'s current version with your identity (for sessions with `approvals`)')
    .option('--hash <hash>', 'the version you reviewed: refused if the session changed since')
    .action((name: string, options: ClientOptions & { hash?: string }) => withConnection(options, async ({ client, identity }) => {
      const { APPROVAL_LABEL } = await import('../cas/service.js');
      const view = await client.call<{ head: string }>('GET', `/v1/session?name=${encodeURIComponent(name)}`);
      const hash = options.hash?.toLowerCase() ?? view.head;
      const signature = sign('sha256', Buffer.from(`${APPROVAL_LABEL}\0${name}\0${hash}`), identity.privateKey).toString('base64');
      const result = await client.call<{ approvals: number; threshold: number }>('POST', '/v1/session/approval', { name, hash, signature });
      print(options, { hash, ...result }, () => `approved ${name} ${hash}: ${result.approvals} of ${result.threshold} approvals`);
    }));
  withClient(session.command('reset-volume <name> <volume>'))
    .description('start a volume of the session over after a real loss: a new key, and the next start creates an empty volume (audited; needs update rights)')
    .action((name: string, volume: string, options: ClientOptions) => withConnection(options, async ({ client }) => {
      const result = await client.call<{ name: string; volume: string }>('POST', '/v1/session/volume-reset', { name, volume });
      print(options, result, () => `volume ${volume} of ${name} reset: move the old directory away; the next start creates an empty volume`);
    }));
  withClient(session.command('verify <file>'))
    .description('print the hash of the active session if it is exactly the YAML file; else fail with EPOLICY')
    .action((file: string, options: ClientOptions) => withConnection(options, async ({ client }) => {
      const result = await client.call<{ name: string; hash: string; active: boolean }>('POST', '/v1/session/verify', { yaml: readSessionFile(file) });
      if (!result.active) {
        const { refusal } = await import('../cas/errors.js');
        throw refusal('EPOLICY', `${file} (hash ${result.hash}) is not the active version of session ${result.name}`);
      }
      print(options, result, () => result.hash);
    }));
  return session;
}

// Mistakes in the file are shown with its name before anything is sent.
async function checkLocally(text: string, file: string): Promise<void> {
  const { parseSession } = await import('../cas/session.js');
  parseSession(text, file);
}

// ---------------------------------------------------------------------------------------------
// Measurement

export function measureCommand(): Command {
  return new Command('measure')
    .description('print the measurement of this shieldfs runtime (the node binary and the shieldfs files), for a session\'s `measurement`')
    .option('--node <path>', 'the node binary (default: the one running this command)')
    .option('--rootfs <dir>', 'measure an image\'s root file system: --node and --package-root are paths inside it')
    .option('--package-root <dir>', 'the shieldfs package measured (default: this one; an image made by `shield sconify` has it at /opt/shieldfs)')
    .option('--json', 'print {"measurement","node","packageRoot","files","bytes"}')
    .action(async (options: { node?: string; rootfs?: string; packageRoot?: string; json?: boolean }) => {
      const { measureRuntime } = await import('../cas/measurement.js');
      const result = measureRuntime({ node: options.node, rootfs: options.rootfs, packageRoot: options.packageRoot });
      print(options, result, () => result.measurement);
    });
}

function print(options: { json?: boolean }, value: unknown, text: () => string): void {
  const out = options.json ? JSON.stringify(value, null, 2) : text();
  if (out) process.stdout.write(out + '\n');
}
