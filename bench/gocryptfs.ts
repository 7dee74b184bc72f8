// gocryptfs, the comparison FUSE filesystem: installs it when missing (Debian: gocryptfs, fuse3),
// creates a fresh cipher directory, mounts it for the duration of `body` and always unmounts.
// Every failure is an Error whose message says why gocryptfs is unavailable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sleepSync } from './timing.js';

export interface GocryptfsMount {
  mountpoint: string;
  version: string;
}

const PASSWORD_PROGRAM = 'echo bench-password';
const mounted = new Set<string>();

export async function withGocryptfs<T>(dir: string, body: (mount: GocryptfsMount) => Promise<T>): Promise<T> {
  install();
  if (!existsSync('/dev/fuse')) throw new Error('/dev/fuse does not exist');
  const version = run('gocryptfs', ['-version']).split('\n')[0]!.trim();
  const cipher = join(dir, 'cipher');
  const mountpoint = join(dir, 'plain');
  mkdirSync(cipher, { recursive: true });
  mkdirSync(mountpoint, { recursive: true });
  // -scryptn 10 only makes the password hashing at init/mount fast; the data path is unchanged.
  run('gocryptfs', ['-init', '-q', '-scryptn', '10', '-extpass', PASSWORD_PROGRAM, cipher]);
  run('gocryptfs', ['-q', '-extpass', PASSWORD_PROGRAM, cipher, mountpoint]);
  mounted.add(mountpoint);
  try {
    return await body({ mountpoint, version });
  } finally {
    unmount(mountpoint);
  }
}

function install(): void {
  if (has('gocryptfs') && has('fusermount3')) return;
  if (!has('apt-get')) throw new Error('gocryptfs is not installed and apt-get is not available');
  const apt = (...args: string[]) =>
    run('apt-get', ['-y', '-q', '-o', 'Dpkg::Use-Pty=0', ...args], { DEBIAN_FRONTEND: 'noninteractive' });
  console.error('installing gocryptfs and fuse3 with apt-get …');
  try {
    apt('install', '--no-install-recommends', 'gocryptfs', 'fuse3');
  } catch {
    apt('update');  // a fresh container has no package lists yet
    apt('install', '--no-install-recommends', 'gocryptfs', 'fuse3');
  }
}

/** For an interrupted run: unmounts whatever is still mounted. */
export function unmountAll(): void {
  for (const mountpoint of mounted) unmount(mountpoint);
}

function unmount(mountpoint: string): void {
  mounted.delete(mountpoint);
  for (let attempt = 0; attempt < 20; attempt++) {
    if (spawnSync('fusermount3', ['-u', mountpoint]).status === 0) return;
    sleepSync(100);  // busy for a moment after the last close
  }
  run('fusermount3', ['-u', '-z', mountpoint]);
}

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

function run(command: string, args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${result.stderr}\n${result.stdout}`.trim().split('\n').filter(Boolean);
    throw new Error(`\`${command} ${args.join(' ')}\` failed (${result.status}): ${output.slice(-2).join(' / ')}`);
  }
  return result.stdout;
}
