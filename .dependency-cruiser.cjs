// The architecture, checked: `lib/` is one folder per subsystem, and a subsystem imports only from
// the subsystems below it (README, "Layout"). `npm test` runs `npm run check:layers`, which fails on
// an upward import or an import cycle between any two files, naming the import.
//
// The layers, bottom first. A folder of lib/ that is not in this list is an error too.
const LAYERS = [
  'file',         // the native binding, ShieldedFile, keys, errors: one protected file
  'tag-store',    // where volumes' trusted tags live: memory, file, etcd
  'volume',       // a directory of protected files: manifest, objects, journal, commit, recovery
  'tree',         // protected code trees (shield protect): volumes pinned by their owner's tag
  'fs',           // the drop-in fs: mounts, their configuration, the node:fs surface
  'attestation',  // evidence verifiers, one per TEE type
  'cas',          // the policy and key service and its clients
  'register',     // shieldfs/register: the process-wide shield, module loading from trees
  'image',        // sconify: confidential container images
  'cli',          // the `shield` command
];
// The package's entry points (package.json "exports"), at the top of lib/: they may import any
// layer, and no layer imports them.
const ENTRY_POINTS = '^lib/(index|register|shieldfs-fs)\\.ts$';
// What code outside lib/ that is not a test (bench/, test/support/) may import: the entry points
// and each subsystem's public face, its index.ts.
const PUBLIC_MODULES = `${ENTRY_POINTS}|^lib/(${LAYERS.join('|')})/index\\.ts$`;

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `lib/${layer}/ may import only the layers below it (${LAYERS.slice(0, i).join(', ') || 'none'})`,
  severity: 'error',
  from: { path: `^lib/${layer}/` },
  to: { path: `^lib/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'no import cycle between files (type-only imports included)',
      severity: 'error',
      from: { path: '^(lib|bench|test/support)/' },
      to: { circular: true },
    },
    ...upward,
    {
      name: 'no-entry-point-imports',
      comment: 'a subsystem never imports a package entry point (they sit above every layer)',
      severity: 'error',
      from: { path: '^lib/[^/]+/' },
      to: { path: ENTRY_POINTS },
    },
    {
      name: 'known-subsystems',
      comment: `every folder of lib/ is a layer of .dependency-cruiser.cjs: ${LAYERS.join(', ')}`,
      severity: 'error',
      from: { path: '^lib/[^/]+/', pathNot: `^lib/(${LAYERS.join('|')})/` },
      to: {},
    },
    {
      name: 'public-modules-only',
      comment: 'bench/ and test/support/ import lib/ only through the entry points and the subsystems\' index.ts',
      severity: 'error',
      from: { path: '^(bench|test/support)/' },
      to: { path: '^lib/', pathNot: PUBLIC_MODULES },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
