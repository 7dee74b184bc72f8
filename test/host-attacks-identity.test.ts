// Issue 11, items 2 and 3: the host wipes a volume, or puts another volume made with the same key in
// its place. Each test performs the attack on the real directory (and, for the CLI and `shield run`,
// in real processes) and asserts the refusal: a wiped volume is EROLLBACK, never a fresh one; another
// volume is EINTEGRITY naming the expected and the found volume; a volume without rollback
// protection, or a protected tree, cannot stand in for a rollback-protected volume.
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../lib/file/keys.js';
import { mount } from '../lib/fs/mount.js';
import { openTagStore } from '../lib/tag-store/open-tag-store.js';
import { protectTree } from '../lib/tree/protect.js';
import { Volume } from '../lib/volume/volume.js';
import { cliRunner, expectFailure } from './support/cli-run.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-identity-');
let counter = 0;

function setting() {
  const id = counter++;
  return { dir: temp(`v${id}`), tagStore: `file:${temp(`tags-${id}.json`)}`, key: generateKey() };
}

async function makeVolume(dir: string, options: { key: Buffer; tagStore: string; content?: string; updatePolicy?: 'no-rollback-protection' }) {
  const v = await Volume.create(dir, { key: options.key, tagStore: options.tagStore, updatePolicy: options.updatePolicy });
  await v.writeFile('/num', options.content ?? '41');
  const tag = await v.commit();
  const id = v.id;
  await v.close();
  return { id, tag };
}

function wipe(dir: string): void {
  rmSync(join(dir, '.shieldfs'), { recursive: true, force: true });
}

function replaceDirectory(target: string, source: string): void {
  rmSync(target, { recursive: true, force: true });
  cpSync(source, target, { recursive: true });
}

describe('item 2: a wiped volume is never silently replaced', () => {
  it('rm -rf VOLUME/.shieldfs: open and create both fail with EROLLBACK naming the trusted tag', async () => {
    const { dir, tagStore, key } = setting();
    const { id, tag } = await makeVolume(dir, { key, tagStore });
    wipe(dir);
    const deleted = `volume ${JSON.stringify(dir)} (${dir}) was deleted or replaced; its trusted tag is ${tag} (volume ${id}`;
    await expect(Volume.open(dir, { key, tagStore })).rejects.toMatchObject({ code: 'EROLLBACK', message: expect.stringContaining(deleted) });
    await expect(Volume.create(dir, { key, tagStore })).rejects.toMatchObject({ code: 'EROLLBACK', message: expect.stringContaining(deleted) });
    expect(() => Volume.openSync(dir, { key, tagStore })).toThrow(deleted);
    expect(() => Volume.createSync(dir, { key, tagStore })).toThrow(deleted);
    expect(readdirSync(dir)).toEqual([]);  // nothing was made
  });

  it('the directory emptied, or filled with other files: EROLLBACK, also for a mount with create: true', async () => {
    const { dir, tagStore, key } = setting();
    const { tag } = await makeVolume(dir, { key, tagStore });
    rmSync(dir, { recursive: true });
    const hex = key.toString('hex');
    for (const state of ['missing', 'empty', 'other files'] as const) {
      if (state !== 'missing') mkdirSync(dir, { recursive: true });
      if (state === 'other files') writeFileSync(join(dir, 'README'), 'nothing to see');
      await expect(mount([{ path: '/V1', volume: dir, key: hex, tagStore, create: true }]), state).rejects.toMatchObject({
        code: 'EROLLBACK', message: expect.stringContaining(`was deleted or replaced; its trusted tag is ${tag}`),
      });
    }
  });

  it('a named volume (mount `name`) wiped and created again under that name elsewhere: EROLLBACK', async () => {
    const { dir, tagStore, key } = setting();
    const hex = key.toString('hex');
    const shield = await mount([{ path: '/V1', volume: dir, key: hex, tagStore, create: true, name: 'payroll' }]);
    shield.fs.writeFileSync('/V1/num', '7');
    await shield.unmount();
    const moved = temp(`moved-${counter++}`);
    await expect(mount([{ path: '/V1', volume: moved, key: hex, tagStore, create: true, name: 'payroll' }])).rejects.toMatchObject({
      code: 'EROLLBACK', message: expect.stringMatching(/^EROLLBACK: volume "payroll" \(.*\) was deleted or replaced; its trusted tag is [0-9a-f]{64} /),
    });
    const again = await mount([{ path: '/V1', volume: dir, key: hex, tagStore, create: true, name: 'payroll' }]);
    expect(again.fs.readFileSync('/V1/num', 'utf8')).toBe('7');
    await again.unmount();
  });

  it('an explicit reset (Volume.reset with the id) lets a new volume be created; the old tag stays in the store', async () => {
    const { dir, tagStore, key } = setting();
    const { id, tag } = await makeVolume(dir, { key, tagStore });
    const old = temp(`old-copy-${counter++}`);
    cpSync(dir, old, { recursive: true });
    wipe(dir);
    await expect(Volume.reset(dir, { tagStore, confirmId: 'f'.repeat(32) })).rejects.toMatchObject({
      code: 'EINVAL', message: expect.stringContaining(`as volume ${id}, not ${'f'.repeat(32)}: nothing was reset`),
    });
    expect(await Volume.reset(dir, { tagStore, confirmId: id })).toEqual({ name: dir, id, updatePolicy: 'rollback-protected', tag });
    const fresh = await Volume.create(dir, { key, tagStore });
    expect(fresh.id).not.toBe(id);
    expect(fresh.readdir('/')).toEqual([]);
    await fresh.close();
    const store = openTagStore(tagStore);
    expect(await store.get(id)).toBe(tag);
    await store.close();
  });

  describe('the CLI', () => {
    const store = temp('cli-tags.json');
    const shield = cliRunner({ SHIELD_TAG_STORE: `file:${store}` });
    beforeAll(() => mkdirSync(temp('cli'), { recursive: true }));

    it('volume create after rm -rf .shieldfs: status 4 EROLLBACK; reset (logged on stdout) needs the id, then create works', () => {
      const dir = temp('cli/v');
      const keyFile = temp('cli/v.key');
      const created = shield(['volume', 'create', dir, '--key-file', keyFile, '--json']);
      expect(created.status, created.stderr).toBe(0);
      const { id, tag } = JSON.parse(created.out) as { id: string; tag: string };
      wipe(dir);
      expectFailure(shield(['volume', 'read', dir, '/x', '--key-file', keyFile]), 'EROLLBACK', 4,
        `was deleted or replaced; its trusted tag is ${tag} (volume ${id}`);
      expectFailure(shield(['volume', 'create', dir, '--key-file', keyFile]), 'EROLLBACK', 4,
        `run \`shield volume reset ${dir} --tag-store file:${store} --confirm ${id}\` first`);
      expectFailure(shield(['volume', 'reset', dir]), 'EINVAL', 2, /--confirm/);
      const reset = shield(['volume', 'reset', dir, '--confirm', id]);
      expect(reset.status, reset.stderr).toBe(0);
      expect(reset.out).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z reset: the tag store no longer binds "${dir}" to volume ${id} ` +
        `\\(rollback-protected, last tag ${tag}\\)`));
      expect(reset.stderr).toBe('');
      const again = shield(['volume', 'create', dir, '--key-file', keyFile, '--json']);
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(again.out).id).not.toBe(id);
    });
  });
});

describe('item 3: another volume under the same key in place of a volume', () => {
  it('two volumes of one key and one store swapped on disk: EINTEGRITY naming the expected and the found volume, both ways', async () => {
    const { tagStore, key } = setting();
    const [a, b] = [temp(`swap-a-${counter}`), temp(`swap-b-${counter++}`)];
    const volumeA = await makeVolume(a, { key, tagStore, content: 'A' });
    const volumeB = await makeVolume(b, { key, tagStore, content: 'B' });
    const saved = temp(`swap-saved-${counter++}`);
    cpSync(a, saved, { recursive: true });
    replaceDirectory(a, b);
    replaceDirectory(b, saved);
    await expect(Volume.open(a, { key, tagStore })).rejects.toMatchObject({
      code: 'EINTEGRITY',
      message: `EINTEGRITY: ${a} holds volume ${volumeB.id}, but the tag store ${tagStore} knows ${JSON.stringify(a)} as volume ` +
        `${volumeA.id}: the directory was replaced by another volume made with the same key; restore the directory of the expected volume`,
    });
    await expect(Volume.open(b, { key, tagStore, readOnly: true })).rejects.toMatchObject({
      code: 'EINTEGRITY', message: expect.stringContaining(`holds volume ${volumeA.id}, but the tag store ${tagStore} knows ${JSON.stringify(b)} as volume ${volumeB.id}`),
    });
    const hex = key.toString('hex');
    await expect(mount([{ path: '/A', volume: a, key: hex, tagStore }])).rejects.toMatchObject({ code: 'EINTEGRITY' });
  });

  it('a no-rollback-protection volume made with the same key in place of a rollback-protected one: EINTEGRITY, the store is asked', async () => {
    const { dir, tagStore, key } = setting();
    const protectedVolume = await makeVolume(dir, { key, tagStore });
    const plain = temp(`plain-${counter++}`);
    // Made elsewhere, under a store the mount does not use: the host only needs the directory.
    const plainVolume = await makeVolume(plain, { key, tagStore: `file:${temp(`plain-tags-${counter++}.json`)}`, updatePolicy: 'no-rollback-protection' });
    replaceDirectory(dir, plain);
    for (const readOnly of [false, true]) {
      await expect(Volume.open(dir, { key, tagStore, readOnly })).rejects.toMatchObject({
        code: 'EINTEGRITY', message: expect.stringContaining(`holds volume ${plainVolume.id}, but the tag store ${tagStore} knows ${JSON.stringify(dir)} as volume ${protectedVolume.id}`),
      });
    }
    // Under a name the store does not know, the header alone still cannot switch protection off.
    await expect(Volume.open(dir, { key, tagStore, name: 'never-bound' })).rejects.toMatchObject({
      code: 'EINTEGRITY', message: expect.stringContaining('says it has no rollback protection, but the tag store'),
    });
    // The configuration pins the policy: a mount that says rollback-protected refuses it too.
    await expect(mount([{ path: '/V', volume: dir, key: key.toString('hex'), tagStore, name: 'never-bound-2', updatePolicy: 'rollback-protected' }]))
      .rejects.toMatchObject({ code: 'EINTEGRITY', message: expect.stringContaining('with the update policy no-rollback-protection, but the configuration says rollback-protected') });
  });

  it('a protected tree made with the same key in place of a volume: EINTEGRITY', async () => {
    const { dir, tagStore, key } = setting();
    const volume = await makeVolume(dir, { key, tagStore });
    const source = temp(`tree-src-${counter++}`);
    mkdirSync(source);
    writeFileSync(join(source, 'num'), '1000000');
    const tree = temp(`tree-${counter++}`);
    await protectTree(source, tree, { key });
    replaceDirectory(dir, tree);
    await expect(mount([{ path: '/V1', volume: dir, key: key.toString('hex'), tagStore, create: true }])).rejects.toMatchObject({
      code: 'EINTEGRITY', message: expect.stringContaining(`but the tag store ${tagStore} knows ${JSON.stringify(dir)} as volume ${volume.id}`),
    });
  });

  it('a volume opened before names existed (unbound) is bound at its first writable open, then pinned', async () => {
    const { dir, tagStore, key } = setting();
    const v = await Volume.create(dir, { key, tagStore, name: null });
    const id = v.id;
    await v.close();
    const store = openTagStore(tagStore);
    expect(await store.getBinding(dir)).toBeNull();
    await (await Volume.open(dir, { key, tagStore })).close();
    expect(await store.getBinding(dir)).toEqual({ id, updatePolicy: 'rollback-protected' });
    await store.close();
  });
});
