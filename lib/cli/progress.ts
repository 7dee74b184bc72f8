// A progress bar on stderr for long operations, only when stderr is a terminal (so pipes, logs and
// tests see clean output).
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

/** `unit`: `bytes` (shown in MiB) or `steps` (shown as done/total, e.g. the layers of an image). */
export function progressBar(label: string, total: number, minimum = 8 << 20, unit: 'bytes' | 'steps' = 'bytes'): Progress {
  if (!process.stderr.isTTY || total < minimum) return silent;
  const bar = new cliProgress.SingleBar({
    format: unit === 'bytes' ? `${label} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB | {eta_formatted}` : `${label} [{bar}] {value}/{total} | {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { doneMiB: '0', totalMiB: mib(total) });
  return {
    update(done, newTotal) {
      if (newTotal !== undefined && newTotal !== total) {
        total = newTotal;
        bar.setTotal(total);
      }
      bar.update(done, { doneMiB: mib(done), totalMiB: mib(total) });
    },
    stop() {
      bar.stop();
    },
  };
}

function mib(bytes: number): string {
  return (bytes / (1 << 20)).toFixed(1);
}
