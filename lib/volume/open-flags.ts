// open(2)-style flags, from node's strings ('r', 'w+', 'ax', …) or numbers (fs.constants.O_*).
import { hostFs } from '../file/host-fs.js';
import { invalidArgument } from '../file/errors.js';

const { constants } = hostFs;

export interface OpenFlags {
  read: boolean;
  write: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
  /** The same flags as a number, for a pass-through open of a real file. */
  numeric: number;
}

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC } = constants;

const STRING_FLAGS: Record<string, number> = {
  r: O_RDONLY, rs: O_RDONLY | O_SYNC, sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR, 'rs+': O_RDWR | O_SYNC, 'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY, wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL, xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR, 'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL, 'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY, ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL, xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC, sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR, 'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL, 'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC, 'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
};

export function parseOpenFlags(flags: string | number = 'r'): OpenFlags {
  const numeric = typeof flags === 'number' ? flags : STRING_FLAGS[flags];
  if (numeric === undefined || !Number.isInteger(numeric)) throw invalidArgument(`unknown open flags '${String(flags)}'`);
  const access = numeric & 3;
  return {
    read: access === O_RDONLY || access === O_RDWR,
    write: access === O_WRONLY || access === O_RDWR,
    create: (numeric & O_CREAT) !== 0,
    exclusive: (numeric & O_EXCL) !== 0,
    truncate: (numeric & O_TRUNC) !== 0 && access !== O_RDONLY,
    append: (numeric & O_APPEND) !== 0,
    numeric,
  };
}
