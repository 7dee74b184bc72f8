// The changes the crash sweep commits, one commit each, from the base state BASE_FILES (+ /d).
export const BASE_FILES = {
  '/a': Buffer.alloc(3 * 4096 + 100, 0x61),
  '/big': Buffer.from(Array.from({ length: 40_000 }, (_, i) => i % 251)),
  '/d/x': Buffer.from('x in d'),
};

export const WORKLOADS = {
  create: async (v) => v.writeFile('/new', Buffer.alloc(10_000, 0x6e)),
  replace: async (v) => v.writeFile('/a', Buffer.from('replaced whole')),
  overwrite: async (v) => inPlace(v, 'r+', (f) => f.write(Buffer.alloc(5_000, 0x4f), 0, 5_000, 6_000)),
  append: async (v) => inPlace(v, 'a', (f) => f.write(Buffer.alloc(9_000, 0x41))),
  truncate: async (v) => inPlace(v, 'r+', (f) => f.truncate(10_000)),
  grow: async (v) => inPlace(v, 'r+', (f) => f.truncate(70_000)),
  rename: async (v) => v.rename('/d/x', '/y'),
  unlink: async (v) => v.unlink('/a'),
  mkdir: async (v) => v.mkdir('/e/f', { recursive: true }),
  mixed: async (v) => {
    await inPlace(v, 'r+', (f) => f.write(Buffer.alloc(100, 0x4d), 0, 100, 39_950));
    v.rename('/a', '/d/a');
    await v.writeFile('/d/n', 'n');
    v.unlink('/d/x');
  },
};

async function inPlace(v, flags, change) {
  const f = await v.openFile('/big', flags);
  try {
    await change(f);
  } finally {
    await f.close();
  }
}
