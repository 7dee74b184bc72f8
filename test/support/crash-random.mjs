// Random commits for the long crash run (scripts/test-crash.mjs): a seeded workload that reads the
// volume it runs on to choose its next operation, so the same seed on the same state does the same
// thing in every process (the reference run and the runs that crash). It also keeps a model of what
// the volume must contain, so the reference itself is checked, not only compared with the crashes.
import { createHash } from 'node:crypto';

export const CHUNK = 4096;
export const AUTH = '/auth';  // the base volume's authenticated region

/** sfc32 seeded from a list of 32-bit numbers: the same seeds give the same sequence. */
export function prng(...seeds) {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = 1;
  for (const s of seeds) {
    a ^= s >>> 0;
    for (let i = 0; i < 12; i++) next();
  }
  function next() {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  }
  const rng = {
    u32: next,
    float: () => next() / 4294967296,
    /** Integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)),
    chance: (p) => next() / 4294967296 < p,
    pick: (list) => list[Math.floor((next() / 4294967296) * list.length)],
    /** A key of `weights` ({ name: weight }), chosen with probability proportional to its weight. */
    weighted: (weights) => {
      const entries = Object.entries(weights).filter(([, w]) => w > 0);
      let x = rng.float() * entries.reduce((sum, [, w]) => sum + w, 0);
      for (const [name, w] of entries) if ((x -= w) < 0) return name;
      return entries[entries.length - 1][0];
    },
    bytes: (n) => {
      const out = Buffer.allocUnsafe(n);
      let i = 0;
      for (; i + 4 <= n; i += 4) out.writeUInt32LE(next(), i);
      for (; i < n; i++) out[i] = next() & 0xff;
      return out;
    },
  };
  return rng;
}

// ---------------------------------------------------------------------------------------------
// The model: path → null (directory) or Buffer (file content)

export class Model {
  constructor(entries = new Map([['/', null]])) {
    this.entries = entries;
  }

  static async of(volume) {
    const entries = new Map([['/', null]]);
    for (const { path, type } of listTree(volume)) entries.set(path, type === 'directory' ? null : await volume.readFile(path));
    return new Model(entries);
  }

  write(path, data, position) {
    const old = this.entries.get(path) ?? Buffer.alloc(0);
    const end = Math.max(old.length, position + data.length);
    const out = Buffer.alloc(end);
    old.copy(out);
    data.copy(out, position);
    this.entries.set(path, out);
  }

  truncate(path, length) {
    const old = this.entries.get(path);
    const out = Buffer.alloc(length);
    old.copy(out, 0, 0, Math.min(length, old.length));
    this.entries.set(path, out);
  }

  rename(from, to) {
    if (from === to) return;
    const moved = [...this.entries].filter(([p]) => p === from || p.startsWith(`${from}/`));
    this.entries.delete(to);
    for (const [p] of moved) this.entries.delete(p);
    for (const [p, v] of moved) this.entries.set(to + p.slice(from.length), v);
  }

  /** Lines `path d` / `path f size sha256`, sorted: what a state is, independent of how it is stored. */
  lines() {
    return [...this.entries].filter(([p]) => p !== '/').map(([p, v]) => stateLine(p, v)).sort();
  }
}

function stateLine(path, content) {
  return content === null ? `${path} d` : `${path} f ${content.length} ${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}

/** Every path of the volume (but '/'), with its type, sorted. */
export function listTree(volume, path = '/') {
  const out = [];
  for (const { name, type } of volume.readdirEntries(path)) {
    const child = path === '/' ? `/${name}` : `${path}/${name}`;
    out.push({ path: child, type });
    if (type === 'directory') out.push(...listTree(volume, child));
  }
  return out;
}

/** The state lines of a volume as it reads back (every byte read, so every byte verified). */
export async function volumeLines(volume) {
  const lines = [];
  let bytes = 0, files = 0;
  for (const { path, type } of listTree(volume)) {
    if (type === 'directory') {
      lines.push(stateLine(path, null));
    } else {
      const content = await volume.readFile(path);
      const size = volume.stat(path).size;
      if (size !== content.length) throw new Error(`${path}: stat says ${size} bytes, reading gives ${content.length}`);
      lines.push(stateLine(path, content));
      bytes += content.length;
      files++;
    }
  }
  return { lines: lines.sort(), bytes, files };
}

export function digestOf(lines) {
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// The workload

const MAX_BYTES = 3 << 20;
const MAX_FILES = 60;

function regionOf(path) {
  return path === AUTH || path.startsWith(`${AUTH}/`) ? 'authenticated' : 'encrypted';
}

function join(dir, name) {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function parentOf(path) {
  const cut = path.lastIndexOf('/');
  return cut === 0 ? '/' : path.slice(0, cut);
}

function size(rng, budget) {
  const kind = rng.weighted({ empty: 1, tiny: 4, chunks: 10, medium: 4, large: budget > 800_000 ? 0.6 : 0 });
  switch (kind) {
    case 'empty': return 0;
    case 'tiny': return rng.int(1, 100);
    case 'chunks': return rng.int(1, 3 * CHUNK + 200);
    case 'medium': return rng.int(3 * CHUNK, 64 * 1024);
    default: return rng.int(146 * CHUNK - 8 * CHUNK, 160 * CHUNK);  // past one leaf node of the tree
  }
}

/** An offset that is often just before, at or after a chunk boundary. */
function offsetIn(rng, length) {
  if (length > CHUNK && rng.chance(0.5)) {
    const boundary = CHUNK * rng.int(1, Math.floor(length / CHUNK));
    return Math.max(0, Math.min(length, boundary + rng.int(-40, 40)));
  }
  return rng.int(0, length);
}

/**
 * One commit's worth of random changes to `volume`, mirrored in `model`. `carry` is a handle left
 * open by the previous commit of the same process (written to first, then closed); the return value
 * is a handle to leave open over this commit, or null.
 */
export async function randomChanges(volume, model, rng, { carry = null, leaveOpen = false, log = () => {} } = {}) {
  if (carry) {
    const data = rng.bytes(rng.int(1, 2 * CHUNK));
    const position = carry.flags.append ? carry.size : offsetIn(rng, carry.size);
    log(`carried ${carry.path}: write ${data.length} at ${position}`);
    await carry.write(data, 0, data.length, position);
    model.write(carry.path, data, position);
    await carry.close();
  }
  const steps = rng.weighted({ 1: 4, 2: 3, 3: 2, 4: 1.5, 6: 1, 10: 0.5 });
  for (let i = 0; i < Number(steps); i++) await randomStep(volume, model, rng, log);
  if (!leaveOpen) return null;
  const files = listTree(volume).filter((e) => e.type === 'file').map((e) => e.path);
  if (files.length === 0) return null;
  const path = rng.pick(files);
  const flags = rng.pick(['r+', 'a']);
  const handle = await volume.openFile(path, flags);
  const data = rng.bytes(rng.int(1, 2 * CHUNK));
  const position = flags === 'a' ? handle.size : offsetIn(rng, handle.size);
  log(`leave open ${path} (${flags}): write ${data.length} at ${position}`);
  await handle.write(data, 0, data.length, position);
  model.write(path, data, position);
  return handle;
}

async function randomStep(volume, model, rng, log) {
  const tree = listTree(volume);
  const files = tree.filter((e) => e.type === 'file').map((e) => e.path);
  const dirs = ['/', ...tree.filter((e) => e.type === 'directory').map((e) => e.path)];
  const bytes = files.reduce((sum, p) => sum + model.entries.get(p).length, 0);
  const crowded = bytes > MAX_BYTES || files.length > MAX_FILES;
  const emptyDirs = dirs.filter((d) => d !== '/' && d !== AUTH && !tree.some((e) => parentOf(e.path) === d));
  const movableDirs = dirs.filter((d) => d !== '/' && d !== AUTH);
  const has = files.length > 0 ? 1 : 0;
  const op = rng.weighted({
    create: crowded ? 0.5 : 4, replace: 2 * has, overwrite: 4 * has, append: 2 * has, truncate: 2.5 * has,
    handle: 1.5 * has, renameFile: 2 * has, renameDir: movableDirs.length > 0 ? 1 : 0,
    unlink: (crowded ? 6 : 1.5) * has, mkdir: dirs.length > 12 ? 0.2 : 1.2, rmdir: emptyDirs.length > 0 ? 1 : 0,
  });
  const freshName = (dir, prefix) => {
    for (;;) {
      const name = `${prefix}${rng.int(0, 999)}`;
      if (!model.entries.has(join(dir, name))) return join(dir, name);
    }
  };
  const budget = MAX_BYTES - bytes;
  switch (op) {
    case 'create': {
      const dir = rng.chance(0.35) ? rng.pick(dirs.filter((d) => regionOf(d) === 'authenticated')) : rng.pick(dirs);
      const path = freshName(dir, 'f');
      const data = rng.bytes(size(rng, budget));
      log(`create ${path} (${data.length})`);
      await volume.writeFile(path, data);
      model.entries.set(path, data);
      return;
    }
    case 'replace': {
      const path = rng.pick(files);
      const data = rng.bytes(size(rng, budget));
      log(`replace ${path} (${data.length})`);
      await volume.writeFile(path, data);
      model.entries.set(path, data);
      return;
    }
    case 'overwrite': {
      const path = rng.pick(files);
      const length = model.entries.get(path).length;
      const position = rng.chance(0.05) ? length + rng.int(1, 2 * CHUNK) : offsetIn(rng, length);  // sometimes past the end: a hole
      const data = rng.bytes(rng.chance(0.7) ? rng.int(1, CHUNK + 100) : rng.int(1, 5 * CHUNK));
      log(`overwrite ${path} (${length}): ${data.length} at ${position}`);
      await withFile(volume, path, 'r+', (f) => f.write(data, 0, data.length, position));
      model.write(path, data, position);
      return;
    }
    case 'append': {
      const path = rng.pick(files);
      const data = rng.bytes(rng.int(1, 3 * CHUNK));
      const position = model.entries.get(path).length;
      log(`append ${path} (${position}): ${data.length}`);
      await withFile(volume, path, 'a', (f) => f.write(data, 0, data.length));
      model.write(path, data, position);
      return;
    }
    case 'truncate': {
      const path = rng.pick(files);
      const length = model.entries.get(path).length;
      const to = rng.chance(0.6) || length > 200_000 ? offsetIn(rng, length) : length + rng.int(1, 3 * CHUNK);
      log(`truncate ${path} (${length}) to ${to}`);
      await withFile(volume, path, 'r+', (f) => f.truncate(to));
      model.truncate(path, to);
      return;
    }
    case 'handle': {
      // Several changes through one handle, the same file written, cut and grown before it is closed.
      const path = rng.pick(files);
      log(`handle ${path}`);
      await withFile(volume, path, 'r+', async (f) => {
        for (let n = rng.int(2, 5); n > 0; n--) {
          const length = model.entries.get(path).length;
          if (rng.chance(0.7)) {
            const data = rng.bytes(rng.int(1, 2 * CHUNK));
            const position = offsetIn(rng, length);
            log(`  write ${data.length} at ${position}`);
            await f.write(data, 0, data.length, position);
            model.write(path, data, position);
          } else {
            const to = rng.chance(0.5) ? offsetIn(rng, length) : length + rng.int(1, 2 * CHUNK);
            log(`  truncate to ${to}`);
            await f.truncate(to);
            model.truncate(path, to);
          }
        }
      });
      return;
    }
    case 'renameFile': {
      const from = rng.pick(files);
      const sameRegion = files.filter((p) => p !== from && regionOf(p) === regionOf(from));
      const to = sameRegion.length > 0 && rng.chance(0.4)
        ? rng.pick(sameRegion)  // over an existing file
        : freshName(rng.pick(dirs.filter((d) => regionOf(d) === regionOf(from))), 'r');
      log(`rename ${from} -> ${to}`);
      volume.rename(from, to);
      model.rename(from, to);
      return;
    }
    case 'renameDir': {
      const from = rng.pick(movableDirs);
      const inside = (d) => d === from || d.startsWith(`${from}/`);
      const targets = dirs.filter((d) => !inside(d) && regionOf(d) === regionOf(from));
      const overTargets = emptyDirs.filter((d) => !inside(d) && d !== parentOf(from) && regionOf(d) === regionOf(from));
      let to;
      if (overTargets.length > 0 && rng.chance(0.3)) to = rng.pick(overTargets);  // over an empty directory
      else to = freshName(rng.pick(targets), 'D');
      log(`rename dir ${from} -> ${to}`);
      volume.rename(from, to);
      model.rename(from, to);
      return;
    }
    case 'unlink': {
      const path = rng.pick(files);
      log(`unlink ${path}`);
      volume.unlink(path);
      model.entries.delete(path);
      return;
    }
    case 'mkdir': {
      const dir = rng.pick(dirs);
      let path = freshName(dir, 'd');
      const recursive = rng.chance(0.3);
      if (recursive) path = join(path, `d${rng.int(0, 9)}`);
      log(`mkdir ${path}${recursive ? ' (recursive)' : ''}`);
      volume.mkdir(path, { recursive });
      if (recursive) model.entries.set(parentOf(path), null);
      model.entries.set(path, null);
      return;
    }
    case 'rmdir': {
      const path = rng.pick(emptyDirs);
      log(`rmdir ${path}`);
      volume.rmdir(path);
      model.entries.delete(path);
      return;
    }
  }
}

async function withFile(volume, path, flags, change) {
  const f = await volume.openFile(path, flags);
  try {
    await change(f);
  } finally {
    await f.close();
  }
}
