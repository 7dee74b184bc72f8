// Paths inside a volume: absolute, '/'-separated, normalized ("/a/b"), never above the root.
import { fsError } from '../file/fs-errors.js';

export const ROOT = '/';
/** The volume's own bookkeeping lives in this directory at the root of the volume directory. */
export const RESERVED_NAME = '.shieldfs';
export const NAME_MAX = 255;

/** Normalizes `path` ("a//b/../c" → "/a/c"); throws the fs error a bad name would give. */
export function normalizeVolumePath(path: string, syscall: string): string {
  if (typeof path !== 'string') {
    const error = new TypeError(`The "path" argument must be of type string. Received ${typeof path}`);
    (error as NodeJS.ErrnoException).code = 'ERR_INVALID_ARG_TYPE';
    throw error;
  }
  if (path.includes('\0')) {
    const error = new TypeError(`The argument 'path' must be a string without null bytes. Received '${path}'`);
    (error as NodeJS.ErrnoException).code = 'ERR_INVALID_ARG_VALUE';
    throw error;
  }
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else {
      if (Buffer.byteLength(part) > NAME_MAX) throw fsError('ENAMETOOLONG', syscall, path);
      parts.push(part);
    }
  }
  if (parts[0] === RESERVED_NAME) throw fsError('EACCES', syscall, path);
  return ROOT + parts.join('/');
}

export function pathComponents(normalized: string): string[] {
  return normalized === ROOT ? [] : normalized.slice(1).split('/');
}

export function parentOf(normalized: string): string {
  const cut = normalized.lastIndexOf('/');
  return cut <= 0 ? ROOT : normalized.slice(0, cut);
}

export function baseName(normalized: string): string {
  return normalized.slice(normalized.lastIndexOf('/') + 1);
}

export function joinVolumePath(directory: string, name: string): string {
  return directory === ROOT ? ROOT + name : `${directory}/${name}`;
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === ROOT || path === ancestor || path.startsWith(ancestor + '/');
}
