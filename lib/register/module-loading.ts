// Module loading for protected trees: CommonJS resolution and ESM hooks (being written).
import type { Shield } from '../mount.js';
import type { MountSpec } from '../mount-config.js';

export function installModuleLoading(_shield: Shield, _trees: MountSpec[]): void {}
