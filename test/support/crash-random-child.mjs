// A child of the long crash run (scripts/test-crash.mjs), killed by SHIELDFS_CRASH_AT at a durable step.
//
//   node crash-random-child.mjs work DIR TAGS KEY_HEX SEED COMMITS [SNAPSHOTS]
//     opens the volume DIR (tag store file:TAGS), makes COMMITS random commits (crash-random.mjs,
//     seeded by SEED and the commit's number) and closes it; prints "committed N" as soon as commit
//     N has returned, and "done" at the end. With SNAPSHOTS (the reference run, which does not crash)
//     it copies the committed volume to SNAPSHOTS-N/{vol,tags.json} after each commit, with the
//     state the model expects (model.json) and the operations (ops.txt).
//   node crash-random-child.mjs recover DIR TAGS KEY_HEX
//     opens the volume (recovering from a crash) and closes it.
import { copyFileSync, cpSync, mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Model, prng, randomChanges } from './crash-random.mjs';

// The build under test: dist/ of the working tree, or the copy the crash run took (SHIELDFS_CRASH_DIST).
const dist = process.env.SHIELDFS_CRASH_DIST ? pathToFileURL(`${process.env.SHIELDFS_CRASH_DIST}/`) : new URL('../../dist/', import.meta.url);
const { Volume } = await import(new URL('index.js', dist).href);

const [mode, dir, tags, keyHex, seedText, commitsText, snapshots] = process.argv.slice(2);
const volume = await Volume.open(dir, { key: Buffer.from(keyHex, 'hex'), tagStore: `file:${tags}` });
if (mode === 'work') {
  const seed = Number(seedText);
  const commits = Number(commitsText);
  const model = await Model.of(volume);
  let carry = null;
  for (let i = 1; i <= commits; i++) {
    const rng = prng(seed, i);
    const ops = [];
    carry = await randomChanges(volume, model, rng, { carry, leaveOpen: i < commits && rng.chance(0.4), log: (line) => ops.push(line) });
    await volume.commit();
    writeSync(1, `committed ${i}\n`);
    if (snapshots) {
      const to = `${snapshots}-${i}`;
      mkdirSync(to, { recursive: true });
      cpSync(dir, join(to, 'vol'), { recursive: true });
      copyFileSync(tags, join(to, 'tags.json'));
      writeFileSync(join(to, 'model.json'), JSON.stringify(model.lines()));
      writeFileSync(join(to, 'ops.txt'), `${ops.join('\n')}\n`);
    }
  }
} else if (mode !== 'recover') {
  throw new Error(`unknown mode ${mode}`);
}
await volume.close();
writeSync(1, 'done\n');
