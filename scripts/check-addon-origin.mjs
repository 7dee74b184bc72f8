// Loads the addon the way the package does (lib/file/native.ts) and prints which .node file the process
// mapped. With an argument, fails unless that file (and no other shieldfs .node) was loaded.
//   node --import tsx scripts/check-addon-origin.mjs [expected-path]
import { readFileSync, realpathSync } from 'node:fs';

const { native } = await import('../lib/file/native.ts');

// A real round trip through the addon: McGrew-Viega test case 14.
const sealed = native.gcmSeal(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(16)).toString('hex');
if (sealed !== 'cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919') {
  console.error(`gcmSeal known answer failed: ${sealed}`);
  process.exit(1);
}

const mapped = [
  ...new Set(
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .map((line) => line.trim().split(/\s+/).slice(5).join(' '))
      .filter((path) => path.endsWith('.node')),
  ),
];
console.log(`addon loaded from: ${mapped.join(', ') || '(none?)'}`);

const expected = process.argv[2];
if (expected) {
  const want = realpathSync(expected);
  if (mapped.length !== 1 || realpathSync(mapped[0]) !== want) {
    console.error(`expected exactly ${want} to be loaded`);
    process.exit(1);
  }
}
