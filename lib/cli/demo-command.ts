// `shield demo`: the one command a newcomer runs. Everything real, nothing staged: an embedded policy
// service on a free loopback port in a temporary directory, a counter service protected with
// `shield protect` (code in a tree, /V1/num in a volume whose tag the service keeps), its session with
// max_executions: 3, three runs through `shield run --cas` (0, 1, 2), then the host's attacks, each a
// real change to the files or the command line followed by a real start. Exits 0 only when every
// attack was refused with the expected code; leaves no file or process behind.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { shieldError } from '../file/fs-errors.js';

const COUNTER_APP = `// The counter of SCONE's stateful-service example: prints the number in the file it is given, stores the next.
const fs = require('fs');
const file = process.argv[2];
let n = 0;
try { n = Number(fs.readFileSync(file, 'utf8')); } catch (error) { if (error.code !== 'ENOENT') throw error; }
console.log(n);
fs.writeFileSync(file, String(n + 1));
`;

interface Start { status: number | null; stdout: string; stderr: string; code: string | null }
interface Attack { name: string; expected: string; start: Start }

export function demoCommand(): Command {
  return new Command('demo')
    .description('show the shield at work: an embedded policy service, a protected counter service run three times, then the host\'s attacks and what each got')
    .action(() => demo());
}

async function demo(): Promise<void> {
  const { openServiceState, serve } = await import('../cas/server.js');
  const { PolicyService } = await import('../cas/service.js');
  const { CasClient } = await import('../cas/client.js');
  const { createIdentityFile } = await import('../cas/identity.js');
  const { measureRuntime } = await import('../cas/measurement.js');
  const { protectTree } = await import('../tree/protect.js');
  const say = (line: string) => process.stdout.write(line + '\n');

  const work = mkdtempSync(join(tmpdir(), 'shieldfs-demo-'));
  let running: Awaited<ReturnType<typeof serve>> | null = null;
  let client: InstanceType<typeof CasClient> | null = null;
  const cleanUp = () => rmSync(work, { recursive: true, force: true });
  const onSignal = () => {
    cleanUp();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const { store, sealer } = await openServiceState({ store: join(work, 'cas') });
    const service = await PolicyService.open(store, sealer);
    running = await serve(service, store, '127.0.0.1:0');
    say(`policy service      listening on ${running.url} key ${running.fingerprint}`);

    const owner = await createIdentityFile(join(work, 'owner.pem'));
    client = new CasClient({ url: running.url, key: running.fingerprint }, owner);
    const src = join(work, 'src'), tree = join(work, 'tree'), volume = join(work, 'v1');
    mkdirSync(src);
    mkdirSync(volume);
    writeFileSync(join(src, 'app.cjs'), COUNTER_APP);
    const treeKey = randomBytes(32);
    const { tag } = await protectTree(src, tree, { key: treeKey });
    const treeKeyHex = treeKey.toString('hex');
    treeKey.fill(0);
    say(`protected code      ${tree} (tag ${tag.slice(0, 16)}…)`);
    const { measurement } = measureRuntime();
    say(`runtime measurement ${measurement.slice(0, 16)}… (simulation evidence: proves nothing, tolerated by this session for the demo)`);
    const session = (maxExecutions: number, predecessor?: string) => [
      'name: demo/counter', 'version: "0.3"', ...(predecessor ? [`predecessor: ${predecessor}`] : []),
      'services:', '  - name: counter', '    image_name: counter_image', '    command: "node /app/app.cjs /V1/num"',
      '    environment: { LANG: C.UTF-8 }', `    measurement: "${measurement}"`, `    max_executions: ${maxExecutions}`,
      '    trees:', `      - { path: /app, key: "${treeKeyHex}", tag: "${tag}" }`,
      'volumes:', '  - { name: V1, update_policy: rollback_protected }',
      'images:', '  - { name: counter_image, volumes: [ { name: V1, path: /V1 } ] }',
      'security:', '  attestation: { tolerate: [simulation] }', '',
    ].join('\n');
    const { hash } = await client.call<{ hash: string }>('POST', '/v1/sessions', { yaml: session(3) });
    say(`session             demo/counter ${hash.slice(0, 16)}… (max_executions: 3)`);

    const url = running.url, key = running.fingerprint;
    const start = (extra: string[] = []) => startService(url, key, tree, volume, extra);
    const snapshots = join(work, 'copies');
    const keep = (name: string) => cpSync(volume, join(snapshots, name), { recursive: true });
    const putBack = (name: string) => {
      rmSync(volume, { recursive: true, force: true });
      cpSync(join(snapshots, name), volume, { recursive: true });
    };
    for (let run = 1; run <= 3; run++) {
      const result = await start();
      if (result.status !== 0) throw shieldError('EIO', `run ${run} of the counter failed (${result.status}): ${result.stderr.trim()}`);
      say(`run ${run}               prints ${result.stdout.trim()}`);
      if (run === 1) keep('after-run-1');
    }
    keep('latest');

    const attacks: Attack[] = [];
    attacks.push({ name: 'a fourth start over max_executions: 3', expected: 'ELIMIT', start: await start() });
    // The owner may raise the limit (the count is kept); the attacks below need starts that get as far as the files.
    const raised = await client.call<{ hash: string }>('PUT', '/v1/sessions', { yaml: session(10, hash) });
    say(`session updated     ${raised.hash.slice(0, 16)}… (the owner raises max_executions to 10 for the attacks below)`);

    putBack('after-run-1');
    attacks.push({ name: 'an old copy of the volume restored', expected: 'EROLLBACK', start: await start() });
    putBack('latest');

    const objects = join(volume, '.shieldfs', 'objects');
    for (const fan of readdirSync(objects)) rmSync(join(objects, fan), { recursive: true, force: true });
    attacks.push({ name: 'the counter file deleted', expected: 'EINTEGRITY', start: await start() });
    putBack('latest');

    rmSync(volume, { recursive: true, force: true });
    attacks.push({ name: 'the whole volume deleted', expected: 'EROLLBACK', start: await start() });
    putBack('latest');

    const pristineTree = join(snapshots, 'tree');
    cpSync(tree, pristineTree, { recursive: true });
    flipOneBitInEveryObject(tree);
    attacks.push({ name: 'a byte of the code changed', expected: 'EINTEGRITY', start: await start() });
    rmSync(tree, { recursive: true, force: true });
    cpSync(pristineTree, tree, { recursive: true });

    attacks.push({ name: 'the argument changed to /tmp/num', expected: 'EPOLICY', start: await start(['--', 'node', '/app/app.cjs', '/tmp/num']) });

    const honest = await start();
    say(`run after attacks   prints ${honest.stdout.trim() || `nothing (${honest.code ?? honest.status})`}`);

    say('');
    const width = Math.max(...attacks.map((a) => a.name.length));
    say(`${'attack'.padEnd(width)}  ${'expected'.padEnd(10)}  ${'got'.padEnd(10)}  result`);
    let allRefused = true;
    for (const attack of attacks) {
      const refused = attack.start.status !== 0 && attack.start.code === attack.expected;
      allRefused &&= refused;
      say(`${attack.name.padEnd(width)}  ${attack.expected.padEnd(10)}  ${(attack.start.code ?? `exit ${attack.start.status}`).padEnd(10)}  ${refused ? 'refused' : 'NOT REFUSED'}`);
    }
    say('');
    say(allRefused ? 'every attack was refused' : 'SOME ATTACKS WERE NOT REFUSED');
    if (honest.stdout.trim() !== '3') allRefused = false;
    process.exitCode = allRefused ? 0 : 1;
  } finally {
    client?.close();
    await running?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleanUp();
  }
}

// What `shield run --cas` a user types, as a child process; the code of its refusal from its stderr.
function startService(url: string, key: string, tree: string, volume: string, extra: string[]): Promise<Start> {
  const shieldJs = fileURLToPath(new URL('./shield.js', import.meta.url));
  const args = [shieldJs, 'run', '--cas', url, '--cas-key', key, '--session', 'demo/counter', '--service', 'counter',
    '--bind', `/app=${tree}`, '--bind', `/V1=${volume}`, ...extra];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (piece: Buffer) => { stdout += piece.toString(); });
    child.stderr.on('data', (piece: Buffer) => { stderr += piece.toString(); });
    child.once('error', reject);
    child.once('close', (status) => {
      const code = /^shield: (E[A-Z0-9]+):/m.exec(stderr)?.[1] ?? /\b(E(?:INTEGRITY|ROLLBACK|BADKEY|ATTEST|POLICY|LIMIT|ACCES))\b/.exec(stderr)?.[1] ?? null;
      resolve({ status, stdout, stderr, code });
    });
  });
}

function flipOneBitInEveryObject(tree: string): void {
  const objects = join(tree, '.shieldfs', 'objects');
  for (const fan of readdirSync(objects)) {
    for (const name of readdirSync(join(objects, fan))) {
      const path = join(objects, fan, name);
      const bytes = readFileSync(path);
      bytes[bytes.length >> 1]! ^= 0x01;
      writeFileSync(path, bytes);
    }
  }
}
