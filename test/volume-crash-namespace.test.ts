// Crash consistency of commits (FORMAT.md, "Commit protocol"): every durable step of each workload
// is a crash point; after each crash the volume opens at the old or the new state, never damaged.
import { describeCrashSweep } from './support/crash-sweep.js';
import { useTempDir } from './support/temp.js';

describeCrashSweep(['rename', 'unlink', 'mkdir', 'mixed'], useTempDir('shieldfs-crash-'), 80);
