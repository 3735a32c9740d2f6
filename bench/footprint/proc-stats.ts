/**
 * What Linux says about another process, read from /proc: resident memory (now, peak, and its
 * anonymous/file split), CPU time (user + system), and bytes it made the block layer write
 * (`write_bytes`: what reaches the disk, not what it passed to write()). Plus the least-squares
 * slope the footprint bench fits to its RSS samples.
 */
import { readFileSync } from 'node:fs';

export interface ProcSample {
  /** performance.now() of the bench when read. */
  atMs: number;
  rssKb: number;
  /** Peak RSS so far (VmHWM). */
  hwmKb: number;
  rssAnonKb: number;
  rssFileKb: number;
  /** User + system CPU, in ms. */
  cpuMs: number;
  /** Bytes the process caused to be written to storage (/proc/<pid>/io). */
  writeBytes: number;
  threads: number;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** One sample of `pid`, or null once it is gone. */
export function readProcSample(pid: number): ProcSample | null {
  try {
    const atMs = performance.now();
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const writeBytes = Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? 0);
    return {
      atMs,
      rssKb: statusField(status, 'VmRSS'),
      hwmKb: statusField(status, 'VmHWM'),
      rssAnonKb: statusField(status, 'RssAnon'),
      rssFileKb: statusField(status, 'RssFile'),
      cpuMs: (ticks * 1000) / TICKS_PER_SECOND,
      writeBytes,
      threads: statusField(status, 'Threads'),
    };
  } catch {
    return null;
  }
}

/** Slope of the least-squares line through `points` (y per unit of x); 0 for fewer than two. */
export function leastSquaresSlope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const p of points) {
    covariance += (p.x - meanX) * (p.y - meanY);
    variance += (p.x - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}
