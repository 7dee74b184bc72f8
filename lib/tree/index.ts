// The tree layer: protected code trees (`shield protect`): a directory of code made into a volume
// whose tag its owner pins, opened read-only wherever it is mounted. Uses the volume layer.
export { protectTree, type ProtectOptions, type ProtectProgress, type ProtectResult } from './protect.js';
