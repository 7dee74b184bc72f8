// Where the compatibility suite runs. Every target yields an `fs` and a root directory inside which
// each case gets a fresh subdirectory; test/fs-compat.test.ts compares every target's observations
// with those of `referenceTarget` (real node:fs).
import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mount } from '../../lib/index.js';
import type { Fs } from './observe.js';

export interface FsSession {
  fs: Fs;
  root: string;
  teardown(): Promise<void>;
}

export interface FsTarget {
  name: string;
  setup(): Promise<FsSession>;
}

/** Real node:fs in a new temporary directory (its real path, so realpath() stays inside it). */
export const nodeTarget: FsTarget = {
  name: 'node:fs',
  async setup() {
    const root = nodeFs.realpathSync(nodeFs.mkdtempSync(join(tmpdir(), 'shieldfs-compat-')));
    return { fs: nodeFs, root, teardown: async () => nodeFs.rmSync(root, { recursive: true, force: true }) };
  },
};

/** shield.fs on a fresh volume mounted at /V1 (a memory tag store; 'close' commits, the default). */
export const shieldTarget: FsTarget = {
  name: 'shield.fs',
  async setup() {
    const directory = nodeFs.mkdtempSync(join(tmpdir(), 'shieldfs-compat-volume-'));
    const shield = await mount([{
      path: '/V1', volume: join(directory, 'v'), key: randomBytes(32).toString('hex'),
      tagStore: `memory:compat-${randomBytes(8).toString('hex')}`, create: true,
    }]);
    return {
      fs: shield.fs, root: '/V1',
      teardown: async () => {
        await shield.unmount();
        nodeFs.rmSync(directory, { recursive: true, force: true });
      },
    };
  },
};

/** The observations every other target must reproduce. */
export const referenceTarget: FsTarget = nodeTarget;

/** The targets compared with the reference. */
export const comparedTargets: FsTarget[] = [
  nodeTarget,  // a second, separate temporary directory: proves the suite itself is deterministic
  shieldTarget,
];
