// shieldfs/fs, as a user of the package sees it (its published declarations, resolved through the
// package's own "exports"), must have the type of node:fs: every member, with node's own types.
// tsc checks this file once per Node line, each time against that line's @types/node
// (tsconfig.node-20.json, tsconfig.node-22.json, tsconfig.node-24.json; `npm run check:types`), so
// functions a newer line added (glob, globSync, …) are caught when shieldfs/fs lacks them.
import shieldFs, * as shieldFsNamed from 'shieldfs/fs';
import type * as nodeFs from 'node:fs';
import type * as nodeFsPromises from 'node:fs/promises';

shieldFs satisfies typeof nodeFs;
shieldFsNamed satisfies typeof nodeFs;
shieldFs.promises satisfies typeof nodeFsPromises;
