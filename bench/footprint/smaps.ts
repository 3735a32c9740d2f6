/**
 * Resident memory of a process by what is mapped (/proc/<pid>/smaps): each file (the node binary,
 * onnxruntime's shared library, better-sqlite3's addon, …) and the anonymous memory, which is the
 * V8 heap, malloc arenas (SQLite's page cache, onnxruntime's buffers, libuv) and thread stacks.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface MappingRss {
  name: string;
  kb: number;
}

/** Resident KB by mapped file (anonymous mappings together as "[anonymous]"), largest first. */
export function residentByMapping(pid: number): MappingRss[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return [];
  }
  const totals = new Map<string, number>();
  let current = '[anonymous]';
  for (const line of text.split('\n')) {
    // A mapping's header: "start-end perms offset dev inode [path]".
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const path = header[1] ?? '';
      current = path === '' ? '[anonymous]' : path.startsWith('[') ? (path.startsWith('[stack') ? '[stack]' : path === '[heap]' ? '[heap]' : '[anonymous]') : basename(path);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) totals.set(current, (totals.get(current) ?? 0) + Number(rss[1]));
  }
  return [...totals].map(([name, kb]) => ({ name, kb })).sort((a, b) => b.kb - a.kb);
}
