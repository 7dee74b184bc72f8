// The volume lock: one writer (exclusive) or many readers (shared) per volume directory, through
// flock(2) on `.shieldfs/lock`, so the kernel drops it when the holder dies and a lock left by a
// dead process is simply taken over. The writer also writes who it is into the file, so a second
// writer's EBUSY can name the holder.
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { native, type NativeLock } from './native.js';
import { shieldError } from './fs-errors.js';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export class VolumeLock {
  #lock: NativeLock | null;

  private constructor(lock: NativeLock, readonly path: string, readonly exclusive: boolean) {
    this.#lock = lock;
  }

  static acquire(path: string, exclusive: boolean, volume: string): VolumeLock {
    let lock: NativeLock;
    try {
      lock = native.lockFile(path, exclusive);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
      throw shieldError('EBUSY', `volume ${volume} is in use by ${describeHolder(path, exclusive)}; ` +
        'wait for it to finish or stop it (a lock left by a process that died is taken over automatically)', volume);
    }
    if (exclusive) {
      const holder: Holder = { pid: process.pid, host: hostname(), command: process.argv.slice(1).join(' ').slice(0, 200), since: new Date().toISOString() };
      writeFileSync(path, JSON.stringify(holder) + '\n');
    }
    return new VolumeLock(lock, path, exclusive);
  }

  release(): void {
    if (!this.#lock) return;
    if (this.exclusive) {
      try {
        writeFileSync(this.path, '');  // no stale name for the next EBUSY
      } catch {
        // the lock is released below either way
      }
    }
    this.#lock.release();
    this.#lock = null;
  }
}

function describeHolder(path: string, wanted: boolean): string {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as Holder;
    if (Number.isInteger(holder.pid) && isAlive(holder.pid)) {
      return `pid ${holder.pid} on ${holder.host} (${holder.command}) since ${holder.since}`;
    }
  } catch {
    // no writer recorded: the holders are readers
  }
  return wanted ? 'one or more readers' : 'a writer';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
