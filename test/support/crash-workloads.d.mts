import type { Volume } from '../../lib/index.js';
export declare const BASE_FILES: Record<string, Buffer>;
export declare const WORKLOADS: Record<string, (volume: Volume) => Promise<void>>;
