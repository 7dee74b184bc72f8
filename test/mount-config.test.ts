// The mount configuration (lib/fs/mount-config.ts): what `mount()`, `shieldfs/register` and `shield run`
// accept. Valid configurations come back normalized; every mistake is EINVAL naming the file, the
// mount and the field, and typos are never silently ignored.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadShieldConfig, parseMountSpecs, resolveMountKey, type MountSpec } from '../lib/fs/mount-config.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-mount-config-');
const KEY_HEX = 'a1'.repeat(32);
const TAG = 'C0FFEE'.padEnd(64, '0');

let counter = 0;
function configFile(text: string, name = 'shield.yaml'): string {
  const dir = temp(`config-${++counter}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The EINVAL a bad value gives, checked to name the source, the mount and the field. */
function invalid(run: () => unknown, ...mentions: (string | RegExp)[]): string {
  let error: NodeJS.ErrnoException | undefined;
  try {
    run();
  } catch (e) {
    error = e as NodeJS.ErrnoException;
  }
  expect(error, 'expected an error').toBeInstanceOf(Error);
  expect(error!.code).toBe('EINVAL');
  for (const mention of mentions) expect(error!.message).toMatch(typeof mention === 'string' ? new RegExp(escape(mention)) : mention);
  return error!.message;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('valid configurations', () => {
  it('a YAML file: paths resolve against its directory, fields are normalized, volume defaults are filled in', () => {
    vi.stubEnv('SHIELD_TAG_STORE', 'file:/srv/tags.json');
    const file = configFile([
      '# two mounts',
      'mounts:',
      '  - path: /V1/          # trailing slash is dropped',
      '    volume: ./volumes/v1',
      '    keyFile: keys/v1.key',
      '  - path: //app//code',
      '    tree: /images/app',
      `    tag: ${TAG}`,
      '    keyEnv: APP_KEY',
      '  - path: /V2',
      '    volume: /data/v2',
      `    key: "${KEY_HEX}"`,
      '    tagStore: etcd://cas-1:2379,cas-2:2379/prod',
      '    commit: { intervalMs: 5000 }',
      '    create: true',
      '    regions: ["/lib:authenticated", "scratch/:not-protected"]',
      '  - path: /V3',
      '    volume: v3',
      '    keyFile: /keys/v3.key',
      '    readOnly: true',
      '    tagStore: file:tags/local.json',
      '',
    ].join('\n'));
    const dir = join(file, '..');
    expect(loadShieldConfig(file)).toEqual({
      mounts: [
        { path: '/V1', volume: join(dir, 'volumes/v1'), keyFile: join(dir, 'keys/v1.key'), readOnly: false, create: false, commit: 'close', tagStore: 'file:/srv/tags.json' },
        { path: '/app/code', tree: '/images/app', tag: TAG.toLowerCase(), keyEnv: 'APP_KEY' },
        {
          path: '/V2', volume: '/data/v2', key: KEY_HEX, readOnly: false, create: true, commit: { intervalMs: 5000 },
          regions: ['/lib:authenticated', '/scratch:not-protected'], tagStore: 'etcd://cas-1:2379,cas-2:2379/prod/',
        },
        { path: '/V3', volume: join(dir, 'v3'), keyFile: '/keys/v3.key', readOnly: true, create: false, tagStore: `file:${join(dir, 'tags/local.json')}` },
      ],
    });
  });

  it('what comes out parses to itself (register hands loadShieldConfig\'s mounts to mount())', () => {
    const file = configFile([
      'mounts:',
      '  - { path: /a/, volume: a, keyFile: k, readOnly: true }',
      '  - { path: /b, volume: b, keyEnv: K, create: true, regions: ["x/:authenticated"], commit: { intervalMs: 10 }, tagStore: "t.json" }',
      `  - { path: /c, tree: c, tag: "${TAG}", key: "${KEY_HEX}" }`,
    ].join('\n'));
    const once = loadShieldConfig(file).mounts;
    expect(parseMountSpecs(once, 'mount()')).toEqual(once);
    expect(parseMountSpecs(JSON.parse(JSON.stringify(once)), file)).toEqual(once);
  });

  it('a JSON file is read the same way (JSON is YAML)', () => {
    const file = configFile(JSON.stringify({ mounts: [{ path: '/V1', volume: 'v1', keyEnv: 'K', commit: 'sync' }] }), 'shield.json');
    expect(loadShieldConfig(file).mounts).toEqual([
      expect.objectContaining({ path: '/V1', volume: join(file, '..', 'v1'), keyEnv: 'K', commit: 'sync' }),
    ]);
  });

  it('parseMountSpecs: a list or one spec; a source that is not a file path resolves against the working directory', () => {
    const one = { path: '/V1', volume: 'v1', keyFile: 'v1.key' };
    const expected = expect.objectContaining({ path: '/V1', volume: join(process.cwd(), 'v1'), keyFile: join(process.cwd(), 'v1.key') });
    expect(parseMountSpecs([one], 'mount()')).toEqual([expected]);
    expect(parseMountSpecs(one, 'mount()')).toEqual([expected]);
    // A field set to undefined is a field not given (options objects built from optional values).
    expect(parseMountSpecs([{ ...one, key: undefined, tagStore: undefined }], 'mount()')).toEqual([expected]);
  });

  it('mounts side by side, also with a common prefix that is not a whole component; a volume mounted twice read-only', () => {
    const specs = parseMountSpecs([
      { path: '/V1', volume: '/v', keyEnv: 'K', readOnly: true },
      { path: '/V10', volume: '/v', keyEnv: 'K', readOnly: true },
      { path: '/data/a', tree: '/t', tag: TAG, keyEnv: 'K' },
      { path: '/data/b', tree: '/t', tag: TAG, keyEnv: 'K' },
    ], 'mount()');
    expect(specs.map((s) => s.path)).toEqual(['/V1', '/V10', '/data/a', '/data/b']);
  });
});

describe('invalid configurations: EINVAL naming the file, the mount and the field', () => {
  const base = { path: '/V1', volume: '/v1', keyFile: '/v1.key' };
  const tree = { path: '/T', tree: '/t', tag: TAG, keyFile: '/t.key' };

  it.each<[string, Record<string, unknown>, (string | RegExp)[]]>([
    ['no path', { volume: '/v1', keyFile: '/k' }, ['mounts[1]: path: missing', 'absolute path']],
    ['a relative path', { ...base, path: 'V1' }, ['path: expected an absolute path such as /V1, got "V1"']],
    ['the root', { ...base, path: '/' }, ['path: cannot mount over / itself']],
    ['a path with ..', { ...base, path: '/a/../V1' }, ["path: expected a path without '..'"]],
    ['a path that is not a string', { ...base, path: 7 }, ['path: expected an absolute path such as /V1, got number 7']],
    ['neither volume nor tree', { path: '/V1', keyFile: '/k' }, ['mounts[1] (/V1): expected `volume: <directory>`', 'tree']],
    ['both volume and tree', { ...base, tree: '/t' }, ['mounts[1] (/V1): both `volume` and `tree` given']],
    ['an empty volume', { ...base, volume: '' }, ['(/V1): volume: expected the directory of a volume, got ""']],
    ['a misspelt field', { ...base, keyfile: '/k' }, ['(/V1): keyfile: unknown field (did you mean `keyFile`?)', 'expected path, keyFile']],
    ['a misspelt field (2)', { ...base, readonly: true }, ['readonly: unknown field (did you mean `readOnly`?)']],
    ['an unknown field', { ...base, encryption: 'aes' }, ['encryption: unknown field; expected']],
    ['a tree field on a volume', { ...base, tag: TAG }, ['(/V1): tag: applies to protected trees only']],
    ['a volume field on a tree', { ...tree, readOnly: true }, ['(/T): readOnly: applies to volumes only']],
    ['a tag store on a tree', { ...tree, tagStore: 'file:/x' }, ['(/T): tagStore: applies to volumes only']],
    ['no key', { path: '/V1', volume: '/v1' }, ['(/V1): no key: expected one of keyFile', 'keyEnv']],
    ['two keys', { ...base, keyEnv: 'K' }, ['(/V1): keyFile/keyEnv: more than one key given']],
    ['a key that is not hex', { path: '/V1', volume: '/v', key: 'zz'.repeat(32) }, ['(/V1): key: expected 64 hex characters, got 64 characters']],
    ['a key too short', { path: '/V1', volume: '/v', key: 'ab' }, ['key: expected 64 hex characters, got 2 characters']],
    ['a key as a number', { path: '/V1', volume: '/v', key: 1234 }, ['key: expected 64 hex characters as a string (quote it)']],
    ['a bad keyEnv', { path: '/V1', volume: '/v', keyEnv: 'MY-KEY' }, ['keyEnv: expected the name of an environment variable']],
    ['a tree without tag', { path: '/T', tree: '/t', keyEnv: 'K' }, ['(/T): tag: missing']],
    ['a tree with a short tag', { ...tree, tag: 'abc' }, ['(/T): tag: expected the 64 hex characters `shield protect` printed, got "abc"']],
    ['readOnly: "yes"', { ...base, readOnly: 'yes' }, ['(/V1): readOnly: expected true or false, got "yes"']],
    ['create: 1', { ...base, create: 1 }, ['create: expected true or false, got number 1']],
    ['an unknown commit mode', { ...base, commit: 'always' }, ["commit: expected 'close'", "'sync'", 'intervalMs', 'got "always"']],
    ['a zero interval', { ...base, commit: { intervalMs: 0 } }, ['commit.intervalMs: expected a whole number of milliseconds from 1 to 2147483647, got number 0']],
    ['a fractional interval', { ...base, commit: { intervalMs: 1.5 } }, ['commit.intervalMs: expected a whole number']],
    ['an interval as text', { ...base, commit: { intervalMs: '5s' } }, ['commit.intervalMs: expected a whole number', 'got "5s"']],
    ['a misspelt interval', { ...base, commit: { interval: 5 } }, ['commit.interval: unknown field (did you mean `intervalMs`?)']],
    ['commit on a read-only volume', { ...base, readOnly: true, commit: 'sync' }, ['commit: a read-only mount never commits']],
    ['create on a read-only volume', { ...base, readOnly: true, create: true }, ['create: cannot create a volume mounted read-only']],
    ['regions without create', { ...base, regions: ['/x:authenticated'] }, ['regions: regions are fixed when a volume is created: they need `create: true`']],
    ['a region of an unknown kind', { ...base, create: true, regions: ['/x:secret'] }, ["regions[0]: region kind must be one of encrypted, authenticated, not-protected, got 'secret'"]],
    ['a region without kind', { ...base, create: true, regions: ['/x'] }, ['regions[0]: a region is <path>:<kind>']],
    ['a region given twice', { ...base, create: true, regions: ['/x:authenticated', '/x/:encrypted'] }, ["regions: region '/x' is given twice"]],
    ['regions not a list', { ...base, create: true, regions: '/x:authenticated' }, ['regions: expected a list of "PATH:KIND" strings']],
    ['a tag store of an unknown scheme', { ...base, tagStore: 'redis://x' }, ['(/V1): tagStore: tag store URL "redis://x" has an unknown scheme']],
  ])('%s', (_, spec, mentions) => {
    invalid(() => parseMountSpecs([{ path: '/Other', volume: '/other', keyEnv: 'K' }, spec], '/etc/shield.yaml'), '/etc/shield.yaml: mounts[1]', ...mentions);
  });

  it('a key that is not a key is never shown in the message', () => {
    const secret = 'g'.repeat(63) + 'h';
    expect(invalid(() => parseMountSpecs([{ path: '/V1', volume: '/v', key: secret }], 'mount()'))).not.toContain(secret);
  });

  it('a mount that is not a mapping; mounts that are not a list; no mounts at all', () => {
    invalid(() => parseMountSpecs(['/V1'], 'mount()'), 'mount(): mounts[0]: expected a mapping of fields', 'got "/V1"');
    invalid(() => parseMountSpecs('/V1', 'mount()'), 'mount(): mounts: expected a list of mounts, got "/V1"');
    invalid(() => parseMountSpecs([], 'mount()'), 'mounts: expected at least one mount');
  });

  it('mounts at the same path, or one inside another, are refused', () => {
    invalid(() => parseMountSpecs([base, { ...tree, path: '/V1/' }], 'f.yaml'), 'mounts[1] (/V1): path: the same path as mounts[0]');
    invalid(() => parseMountSpecs([base, { ...tree, path: '/V1/models' }], 'f.yaml'), 'mounts[1] (/V1/models): path: overlaps mounts[0] (/V1): /V1/models lies inside /V1');
    invalid(() => parseMountSpecs([{ ...tree, path: '/a/b/c' }, { ...base, path: '/a' }], 'f.yaml'), 'mounts[1] (/a): path: overlaps mounts[0] (/a/b/c): /a/b/c lies inside /a');
  });

  it('one volume mounted twice with a writer is refused (its writer holds it exclusively)', () => {
    invalid(() => parseMountSpecs([base, { ...base, path: '/V2', readOnly: true }], 'f.yaml'),
      'mounts[1] (/V2): volume: /v1 is also mounted at mounts[0] (/V1)', 'only read-only');
  });
});

describe('configuration files', () => {
  it('a missing file is ENOENT naming it; a directory is EISDIR', () => {
    const missing = temp('no-such.yaml');
    expect(() => loadShieldConfig(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', path: missing, message: expect.stringContaining(`${missing} does not exist`) }));
    const directory = temp('a-directory');
    mkdirSync(directory);
    expect(() => loadShieldConfig(directory)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  });

  it('a relative file name resolves against the working directory, and messages name the absolute path', () => {
    const file = configFile('mounts:\n  - path: /V1\n    volume: v\n    keyEnv: K\n    comit: sync\n');
    const relativeName = relative(process.cwd(), file);
    expect(relativeName.startsWith('/')).toBe(false);
    invalid(() => loadShieldConfig(relativeName), `${file}: mounts[0] (/V1): comit: unknown field (did you mean \`commit\`?)`);
  });

  it.each<[string, string, (string | RegExp)[]]>([
    ['YAML that does not parse', 'mounts:\n  - path: /V1\n   volume: [unclosed\n', [/shield\.yaml:\d+:\d+: not valid YAML or JSON/]],
    ['JSON that does not parse', '{"mounts": [}', [/shield\.yaml:1:\d+: not valid YAML or JSON/]],
    ['a key given twice', 'mounts:\n  - path: /V1\n    path: /V2\n    volume: v\n    keyEnv: K\n', [/:3:\d+: not valid YAML or JSON: Map keys must be unique/]],
    // JSON.parse would keep the last one: a JSON configuration is held to YAML's rule all the same.
    ['a key given twice in JSON (once escaped)', '{"mounts": [{"path": "/V1", "volume": "v", "keyEnv": "K", "pa\\u0074h": "/V2"}]}', [/:1:\d+: not valid YAML or JSON: Map keys must be unique/]],
    ['an empty file', '', ['expected a mapping with a `mounts` list at the top, got null']],
    ['a list at the top', '- path: /V1\n', ['expected a mapping with a `mounts` list at the top, got a list']],
    ['an unknown top-level field', 'mount:\n  - path: /V1\n', ['unknown top-level field `mount` (did you mean `mounts`?)']],
    ['no mounts', 'version: 1\n', ['unknown top-level field `version`']],
    ['mounts that are not a list', 'mounts: /V1\n', ['mounts: expected a list of mounts, got "/V1"']],
    ['an empty mounts list', 'mounts: []\n', ['mounts: expected at least one mount']],
    ['YAML 1.1 booleans are not booleans', 'mounts:\n  - path: /V1\n    volume: v\n    keyEnv: K\n    readOnly: yes\n', ['readOnly: expected true or false, got "yes"']],
    ['a bare-number tag', `mounts:\n  - path: /T\n    tree: t\n    keyEnv: K\n    tag: ${'1'.repeat(64)}\n`, ['tag: expected the 64 hex characters `shield protect` printed as a string (quote it)']],
  ])('%s', (_, text, mentions) => {
    const file = configFile(text);
    invalid(() => loadShieldConfig(file), file, ...mentions);
  });

  it('YAML anchors and aliases work (one key for several mounts)', () => {
    const file = configFile([
      'mounts:',
      '  - &v1 { path: /V1, volume: v1, keyEnv: SHARED_KEY }',
      '  - { path: /V2, volume: v2, keyEnv: SHARED_KEY }',
    ].join('\n'));
    expect(loadShieldConfig(file).mounts.map((m: MountSpec) => [m.path, m.keyEnv])).toEqual([['/V1', 'SHARED_KEY'], ['/V2', 'SHARED_KEY']]);
  });
});

describe('resolveMountKey', () => {
  const expected = Buffer.from(KEY_HEX, 'hex');

  it('reads a key file (hex or 32 raw bytes), a hex key, or an environment variable, all to the same 32 bytes', () => {
    const hexFile = temp('hex.key'), rawFile = temp('raw.key');
    writeFileSync(hexFile, KEY_HEX.toUpperCase() + '\n', { mode: 0o600 });
    writeFileSync(rawFile, expected, { mode: 0o600 });
    vi.stubEnv('MOUNT_TEST_KEY', ` ${KEY_HEX}\n`);
    const specs = parseMountSpecs([
      { path: '/a', volume: '/a', keyFile: hexFile },
      { path: '/b', volume: '/b', keyFile: rawFile },
      { path: '/c', volume: '/c', key: KEY_HEX },
      { path: '/d', volume: '/d', keyEnv: 'MOUNT_TEST_KEY' },
    ], 'mount()');
    for (const spec of specs) {
      const key = resolveMountKey(spec);
      expect(key.length).toBe(32);
      expect(Buffer.compare(key, expected)).toBe(0);
    }
  });

  it('a missing key file is ENOENT naming it; a file that is no key EINVAL', () => {
    const missing = temp('missing.key'), bad = temp('bad.key');
    writeFileSync(bad, 'not a key\n', { mode: 0o600 });
    expect(() => resolveMountKey({ path: '/a', volume: '/a', keyFile: missing })).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining(missing) }));
    expect(() => resolveMountKey({ path: '/a', volume: '/a', keyFile: bad })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('32 raw bytes or 64 hex characters') }));
  });

  it('keyEnv: an unset variable, or one that holds no key, is EINVAL naming the variable and the mount, never its value', () => {
    vi.stubEnv('MOUNT_TEST_UNSET', undefined as unknown as string);
    delete process.env.MOUNT_TEST_UNSET;
    expect(() => resolveMountKey({ path: '/V1', volume: '/a', keyEnv: 'MOUNT_TEST_UNSET' }))
      .toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('environment variable MOUNT_TEST_UNSET (keyEnv of mount /V1) is not set') }));
    const secret = 'secret-material-'.repeat(4);
    vi.stubEnv('MOUNT_TEST_BAD', secret);
    let message = '';
    try {
      resolveMountKey({ path: '/V1', volume: '/a', keyEnv: 'MOUNT_TEST_BAD' });
    } catch (error) {
      message = (error as Error).message;
      expect((error as NodeJS.ErrnoException).code).toBe('EINVAL');
    }
    expect(message).toContain('environment variable MOUNT_TEST_BAD (keyEnv of mount /V1) is not a key: expected 64 hex characters');
    expect(message).not.toContain(secret);
  });
});
