// The differential compatibility suite (issue 4): every case of test/fs-compat/cases.ts runs against
// real node:fs (the reference) and against every compared target, and the observations must be
// identical. Each observation is the case's own result plus a snapshot of the tree it left behind.
import nodeFs from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cases, unsupportedOnVolumes, type FsCase } from './fs-compat/cases.js';
import { errorOf, snapshot, type Fs } from './fs-compat/observe.js';
import { comparedTargets, referenceTarget, type FsSession, type FsTarget } from './fs-compat/targets.js';

const MIN_CASES = 150;
const MIN_FUNCTIONS = 60;

interface Observation {
  result?: unknown;
  threw?: unknown;
  after: unknown;
}

/** Runs one case in a fresh subdirectory of the session's root; the observation as plain JSON. */
async function observe(session: FsSession, c: FsCase, directory: string): Promise<Observation> {
  const root = `${session.root}/${directory}`;
  session.fs.mkdirSync(root);
  const observation: Observation = { after: null };
  try {
    observation.result = await c.run(session.fs, root);
  } catch (e) {
    observation.threw = errorOf(root, e);
  }
  try {
    observation.after = snapshot(session.fs, root);
  } catch (e) {
    observation.after = { snapshotFailed: errorOf(root, e) };
  }
  return JSON.parse(JSON.stringify(observation)) as Observation;
}

const slug = (index: number) => `case-${String(index).padStart(3, '0')}`;

describe('fs compatibility', () => {
  let reference: FsSession;
  const sessions: Array<{ target: FsTarget; session: FsSession }> = [];

  beforeAll(async () => {
    reference = await referenceTarget.setup();
    for (const target of comparedTargets) sessions.push({ target, session: await target.setup() });
  });
  afterAll(async () => {
    for (const { session } of sessions) await session.teardown();
    await reference?.teardown();
  });

  cases.forEach((c, index) => {
    test(c.name, async () => {
      const expected = await observe(reference, c, slug(index));
      expect(expected.threw, 'the case itself failed on node:fs').toBeUndefined();
      for (const { target, session } of sessions) {
        const actual = await observe(session, c, slug(index));
        expect(actual, `${target.name} differs from node:fs`).toEqual(expected);
      }
    });
  });
});

// -------------------------------------------------------------------------------------------------
// The suite itself: big enough, honest about what it covers, and able to fail.

/** Resolves a name from a case's `functions` to the node:fs function it means. */
async function resolveFunction(name: string, scratch: string): Promise<unknown> {
  if (name === 'Dir[Symbol.asyncIterator]') return nodeFs.Dir.prototype[Symbol.asyncIterator];
  const [owner, member] = name.includes('.') ? name.split('.', 2) as [string, string] : [null, name];
  if (owner === null) return (nodeFs as unknown as Record<string, unknown>)[member];
  if (owner === 'promises') return (nodeFs.promises as unknown as Record<string, unknown>)[member];
  if (owner === 'Dir') return (nodeFs.Dir.prototype as unknown as Record<string, unknown>)[member];
  if (owner === 'FileHandle') {
    const fh = await nodeFs.promises.open(scratch, 'w');
    try {
      return (fh as unknown as Record<string, unknown>)[member];  // close is an own property, the rest inherited
    } finally {
      await fh.close();
    }
  }
  return ((nodeFs as unknown as Record<string, Record<string, unknown>>)[owner])?.[member];
}

const distinctFunctions = () => [...new Set(cases.flatMap((c) => c.functions))].sort();

describe('the suite', () => {
  let scratch: FsSession;
  beforeAll(async () => { scratch = await referenceTarget.setup(); });
  afterAll(async () => { await scratch?.teardown(); });

  test(`has at least ${MIN_CASES} cases over at least ${MIN_FUNCTIONS} distinct fs functions`, () => {
    const functions = distinctFunctions();
    expect(cases.length).toBeGreaterThanOrEqual(MIN_CASES);
    expect(functions.length).toBeGreaterThanOrEqual(MIN_FUNCTIONS);
    expect(new Set(cases.map((c) => c.name)).size, 'case names are unique').toBe(cases.length);
    for (const c of cases) expect(c.functions.length, c.name).toBeGreaterThan(0);
  });

  test('every function a case claims to exercise is a real node:fs function', async () => {
    const unknown: string[] = [];
    for (const name of [...distinctFunctions(), ...unsupportedOnVolumes.flatMap((u) => u.functions)]) {
      if (typeof await resolveFunction(name, `${scratch.root}/handle`) !== 'function') unknown.push(name);
    }
    expect(unknown).toEqual([]);
  });

  test('no compared case uses an operation a volume refuses by design', () => {
    const refused = new Set(unsupportedOnVolumes.flatMap((u) => u.functions));
    expect(cases.filter((c) => c.functions.some((f) => refused.has(f))).map((c) => c.name)).toEqual([]);
  });

  // A wrong fs must be caught: each fault below is one a volume-backed fs could plausibly have.
  const faults: Array<{ name: string; victim: string; make(real: Fs): Fs }> = [
    {
      name: 'content: writeFileSync adds a byte to strings',
      victim: 'writeFileSync',
      make: (real) => ({
        ...real,
        writeFileSync: ((path: never, data: unknown, options: never) =>
          real.writeFileSync(path, typeof data === 'string' ? `${data}!` : data as Uint8Array, options)) as Fs['writeFileSync'],
      }),
    },
    {
      name: 'error shape: openSync reports syscall openat',
      victim: 'openSync',
      make: (real) => ({
        ...real,
        openSync: ((...args: Parameters<Fs['openSync']>) => {
          try {
            return real.openSync(...args);
          } catch (e) {
            (e as NodeJS.ErrnoException).syscall = 'openat';
            throw e;
          }
        }) as Fs['openSync'],
      }),
    },
    {
      name: 'timing: stat calls back synchronously',
      victim: 'stat',
      make: (real) => ({
        ...real,
        stat: ((path: string, ...rest: unknown[]) => {
          const cb = rest.pop() as (err: Error | null, s?: nodeFs.Stats) => void;
          try { cb(null, real.statSync(path)); } catch (e) { cb(e as Error); }
        }) as Fs['stat'],
      }),
    },
    {
      name: 'metadata: statSync loses the permission bits set by chmod',
      victim: 'chmodSync',
      make: (real) => ({ ...real, chmodSync: (() => {}) as Fs['chmodSync'] }),
    },
  ];

  test.each(faults)('detects a faulty fs ($name)', async ({ victim, make }) => {
    const faulty: FsTarget = {
      name: 'faulty',
      async setup() {
        const s = await referenceTarget.setup();
        return { ...s, fs: make(s.fs) };
      },
    };
    const a = await referenceTarget.setup();
    const b = await faulty.setup();
    try {
      const victims = cases.filter((c) => c.functions.includes(victim)).slice(0, 6);
      expect(victims.length).toBeGreaterThan(0);
      let caught = 0;
      for (const [i, c] of victims.entries()) {
        const expected = await observe(a, c, slug(i));
        const actual = await observe(b, c, slug(i));
        try {
          expect(actual).toEqual(expected);
        } catch {
          caught++;
        }
      }
      expect(caught, `cases exercising ${victim} that noticed the fault`).toBeGreaterThan(0);
    } finally {
      await a.teardown();
      await b.teardown();
    }
  });
});

describe('operations a volume refuses (ENOTSUP there) behave as documented on node:fs', () => {
  let session: FsSession;
  beforeAll(async () => { session = await referenceTarget.setup(); });
  afterAll(async () => { await session?.teardown(); });

  unsupportedOnVolumes.forEach((u, index) => {
    test(u.name, async () => {
      const root = `${session.root}/${slug(index)}`;
      session.fs.mkdirSync(root);
      let code: string | null = null;
      try {
        await u.run(session.fs, root);
      } catch (e) {
        code = (e as NodeJS.ErrnoException).code ?? String(e);
      }
      expect(code).toBe(u.onNode);
      expect(u.expectedCode).toBe('ENOTSUP');
    });
  });
});
