// The type library 'node' for the Node 24 check: @types/node@24, installed under the alias
// node-types-24 (package.json). Libraries that say /// <reference types="node" /> get it too.
/// <reference path="../../../../node_modules/node-types-24/index.d.ts" />
