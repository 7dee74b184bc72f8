// What the runtime of `shield run --cas` relies on in the mount layer: a mount pins its volume's id
// and update policy (issue 11, item 3), so a volume swapped in under the same key is refused, not
// taken at its header's word; a bad pin is a configuration error naming the field.
import { cpSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateKey, Volume } from '../lib/index.js';
import { mount } from '../lib/fs/mount.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cas-pins-');

describe('mounts pin the volume id and update policy', () => {
  it('a volume of another update policy or id put in place is EINTEGRITY; the pinned one mounts', async () => {
    const key = generateKey();
    const tagStore = `memory:pins-${Date.now()}`;
    const protectedDir = temp('protected'), unprotectedDir = temp('unprotected');
    const protectedVolume = await Volume.create(protectedDir, { key, tagStore });
    const id = protectedVolume.id;
    await protectedVolume.close();
    await (await Volume.create(unprotectedDir, { key, tagStore, updatePolicy: 'no-rollback-protection' })).close();
    const hex = key.toString('hex');

    const good = await mount([{ path: '/P', volume: protectedDir, key: hex, tagStore, updatePolicy: 'rollback-protected', volumeId: id }]);
    await good.unmount();

    // The host puts the unprotected volume (same key) where the protected one was.
    const original = temp('original');
    cpSync(protectedDir, original, { recursive: true });
    rmSync(protectedDir, { recursive: true, force: true });
    cpSync(unprotectedDir, protectedDir, { recursive: true });
    // The tag store bound the directory's name to the protected volume's id: the swap is named as such.
    await expect(mount([{ path: '/P', volume: protectedDir, key: hex, tagStore, updatePolicy: 'rollback-protected' }]))
      .rejects.toMatchObject({ code: 'EINTEGRITY', message: expect.stringMatching(/replaced by another volume made with the same key/) });
    await expect(mount([{ path: '/P', volume: protectedDir, key: hex, tagStore, volumeId: id }]))
      .rejects.toMatchObject({ code: 'EINTEGRITY', message: expect.stringMatching(/not the expected/) });
  });

  it('a malformed pin is EINVAL naming the field', async () => {
    await expect(mount([{ path: '/P', volume: temp('x'), key: '00'.repeat(32), updatePolicy: 'sometimes' as never }]))
      .rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/updatePolicy: expected one of rollback-protected, ephemeral, no-rollback-protection/) });
    await expect(mount([{ path: '/P', volume: temp('x'), key: '00'.repeat(32), volumeId: 'XYZ' }]))
      .rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/volumeId: expected 32 lowercase hex digits/) });
  });
});
