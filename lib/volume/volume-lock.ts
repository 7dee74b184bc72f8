// The volume lock: one writer (exclusive) or many readers (shared) per volume, through flock(2) on
// the `.shieldfs` directory itself (a lock file could be deleted under its holder), so the kernel
// drops it when the holder dies and a lock left by a dead process is simply taken over. The writer
// also records who it is in `.shieldfs/lock`, so a second writer's EBUSY can name the holder. The
// record is in clear on the host's disk, so it holds only the pid, the host name and the time: never
// the command line, which may name protected files (`shield volume write v /hr/alice.txt`) or carry a
// service's secrets (`--api-token=…`).
import { hostFs } from '../file/host-fs.js';
import { hostname } from 'node:os';
import { native, type NativeLock } from '../file/native.js';
import { shieldError } from '../file/fs-errors.js';

const { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } = hostFs;

interface Holder {
  pid: number;
  host: string;
  since: string;
}

export class VolumeLock {
  #lock: NativeLock | null;

  private constructor(lock: NativeLock, readonly path: string, readonly exclusive: boolean) {
    this.#lock = lock;
  }

  /** Locks `target` (a directory or file); `path` is where the writer records itself. */
  static acquire(target: string, path: string, exclusive: boolean, volume: string): VolumeLock {
    let lock: NativeLock;
    try {
      lock = native.lockFile(target, exclusive);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
      throw shieldError('EBUSY', `volume ${volume} is in use by ${describeHolder(path, exclusive)}; ` +
        'wait for it to finish or stop it (a lock left by a process that died is taken over automatically)', volume);
    }
    if (exclusive) {
      const holder: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
      try {
        writeHolder(path, JSON.stringify(holder) + '\n');
      } catch {
        // the record is only for messages; the flock is what excludes
      }
    }
    return new VolumeLock(lock, path, exclusive);
  }

  release(): void {
    if (!this.#lock) return;
    if (this.exclusive) {
      try {
        writeHolder(this.path, '');  // no stale name for the next EBUSY
      } catch {
        // the lock is released below either way
      }
    }
    this.#lock.release();
    this.#lock = null;
  }
}

// The host may replace the lock file by a symlink or a hard link to another file (the record would
// overwrite it), or by a FIFO (a read would block): the record is written and read only through a
// descriptor opened without following a symlink or blocking, and only in a regular file with no
// other name. Otherwise there is no record; the flock excludes all the same.
function openPlainLockFile(path: string, flags: number): number | null {
  const fd = openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  const stat = fstatSync(fd);
  if (stat.isFile() && stat.nlink === 1) return fd;
  closeSync(fd);
  return null;
}

function writeHolder(path: string, text: string): void {
  const fd = openPlainLockFile(path, constants.O_WRONLY | constants.O_CREAT);
  if (fd === null) return;
  try {
    ftruncateSync(fd, 0);
    const bytes = Buffer.from(text);
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, done);
  } finally {
    closeSync(fd);
  }
}

function readHolder(path: string): string {
  const fd = openPlainLockFile(path, constants.O_RDONLY);
  if (fd === null) return '';
  try {
    const bytes = Buffer.alloc(4096);
    return bytes.toString('utf8', 0, readSync(fd, bytes, 0, bytes.length, 0));
  } finally {
    closeSync(fd);
  }
}

function describeHolder(path: string, wanted: boolean): string {
  try {
    const holder = JSON.parse(readHolder(path)) as Holder;
    if (Number.isInteger(holder.pid) && isAlive(holder.pid)) {
      return `pid ${holder.pid} on ${String(holder.host).slice(0, 255)} since ${String(holder.since).slice(0, 64)}`;
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
