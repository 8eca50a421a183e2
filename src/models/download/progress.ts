/**
 * A terminal progress bar for pulls (cli-progress). Use its `onProgress` as
 * pullModel's progress callback and call `stop()` when the pull settles.
 */
import cliProgress from 'cli-progress';
import type { ProgressCallback } from './pull.js';

export interface ProgressBar {
  onProgress: ProgressCallback;
  stop(): void;
}

export interface ProgressBarOptions {
  label?: string;
  /** Default: process.stderr. Non-TTY streams get no bar (use `quiet` output instead). */
  stream?: NodeJS.WritableStream;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function createProgressBar(options: ProgressBarOptions = {}): ProgressBar {
  const label = options.label ?? 'downloading';
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {done} / {size} | {speed}/s | eta {eta_formatted}`,
      barCompleteChar: '=',
      barIncompleteChar: ' ',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 50,
      fps: 5,
      stream: options.stream ?? process.stderr,
    },
    cliProgress.Presets.legacy,
  );
  let started = false;
  let t0 = 0;
  let first = 0;
  return {
    onProgress(bytes, total) {
      const now = Date.now();
      if (!started) {
        started = true;
        t0 = now;
        first = bytes;
        bar.start(total ?? 0, bytes, {
          done: formatBytes(bytes),
          size: total ? formatBytes(total) : '?',
          speed: '0 B',
        });
        return;
      }
      if (total !== undefined && bar.getTotal() !== total) bar.setTotal(total);
      const secs = Math.max(0.001, (now - t0) / 1000);
      bar.update(bytes, {
        done: formatBytes(bytes),
        size: total ? formatBytes(total) : '?',
        speed: formatBytes(Math.round((bytes - first) / secs)),
      });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
