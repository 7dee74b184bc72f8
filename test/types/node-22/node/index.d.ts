// The type library 'node' for the Node 22 check: @types/node@22, installed under the alias
// node-types-22 (package.json). Libraries that say /// <reference types="node" /> get it too.
/// <reference path="../../../../node_modules/node-types-22/index.d.ts" />
