/**
 * `vmc export-training`: the posts' completed crossings as labelled training rows (JSON Lines,
 * contract/training-rows.ts) for `model train --from`. Each row is one crossing: the features its
 * `risk.assessed` carried (what the gateway knew when it decided, computed by the same function
 * that computes a model's input), the decision, and the outcomes — the X-ray result and the
 * inspection's. A crossing whose assessment carried no features (a gateway older than the field)
 * or that was never assessed is counted and left out: its features cannot be rebuilt here, the
 * VMC does not see the post's watchlist or visit memory.
 */
import { open, rename, rm } from 'node:fs/promises';
import { CHANNELS } from '../contract/catalogue.js';
import { TRAINING_ROW_FORMAT, trainingRowSchema, type TrainingRow } from '../contract/training-rows.js';
import type { CrossingCursor, CrossingFilter, CrossingWithOutcomes, VmcStore } from './store/vmc-store.js';

export interface TrainingExportSummary {
  /** Rows written. */
  rows: number;
  /** Of them, scanned and inspected. */
  scanned: number;
  inspected: number;
  /** Completed crossings left out, by why. */
  skipped: { notAssessed: number; noFeatures: number; invalid: number };
  posts: string[];
  /** Completion time of the first and last row written (ISO), null when none. */
  firstCompletedAt: string | null;
  lastCompletedAt: string | null;
}

type Skip = keyof TrainingExportSummary['skipped'];

const iso = (ms: number): string => new Date(ms).toISOString();
const isChannel = (value: unknown): value is TrainingRow['channel'] => (CHANNELS as readonly unknown[]).includes(value);

/** The row of one crossing, or why there is none. */
export function trainingRowOf(crossing: CrossingWithOutcomes): TrainingRow | Skip {
  // The first assessment is the decision; a later one would be a replay of it.
  const assessed = crossing.events.find((event) => event.type === 'risk.assessed');
  if (!assessed) return 'notAssessed';
  if (assessed.data.features === undefined) return 'noFeatures';
  // The last scan and inspection are what the crossing ended with.
  const scanned = crossing.events.filter((event) => event.type === 'xray.scanned').at(-1);
  const inspected = crossing.events.filter((event) => event.type === 'inspection.completed').at(-1);
  const candidate = {
    format: TRAINING_ROW_FORMAT,
    crossingId: crossing.crossingId,
    postId: crossing.postId,
    laneId: crossing.laneId,
    assessedAt: iso(assessed.timeMs),
    completedAt: iso(crossing.completedMs),
    features: assessed.data.features,
    decision: { channel: assessed.data.channel, score: assessed.data.score, modelVersion: assessed.data.modelVersion },
    channel: isChannel(crossing.channel) ? crossing.channel : null,
    xray: scanned?.data.result ?? null,
    inspection: inspected?.data.outcome ?? null,
  };
  const parsed = trainingRowSchema.safeParse(candidate);
  return parsed.success ? parsed.data : 'invalid';
}

export interface TrainingExportOptions {
  filter: CrossingFilter;
  /** The file written; it appears only when complete (written beside it, then renamed). */
  outPath: string;
  /** Crossings read per query (default 1000). */
  pageSize?: number;
}

export async function exportTrainingRows(store: VmcStore, options: TrainingExportOptions): Promise<TrainingExportSummary> {
  const summary: TrainingExportSummary = { rows: 0, scanned: 0, inspected: 0, skipped: { notAssessed: 0, noFeatures: 0, invalid: 0 }, posts: [], firstCompletedAt: null, lastCompletedAt: null };
  const posts = new Set<string>();
  const partial = `${options.outPath}.partial`;
  const file = await open(partial, 'w', 0o640);
  try {
    let after: CrossingCursor | null = null;
    for (;;) {
      const page = await store.crossingsWithOutcomes(options.filter, after, options.pageSize ?? 1000);
      if (page.length === 0) break;
      const lines: string[] = [];
      for (const crossing of page) {
        const row = trainingRowOf(crossing);
        if (typeof row === 'string') {
          summary.skipped[row] += 1;
          continue;
        }
        lines.push(JSON.stringify(row));
        summary.rows += 1;
        if (row.xray !== null) summary.scanned += 1;
        if (row.inspection !== null) summary.inspected += 1;
        posts.add(row.postId);
        summary.firstCompletedAt ??= row.completedAt;
        summary.lastCompletedAt = row.completedAt;
      }
      if (lines.length > 0) await file.write(`${lines.join('\n')}\n`);
      const last = page[page.length - 1] as CrossingWithOutcomes;
      after = { completedMs: last.completedMs, eventId: last.eventId };
    }
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(partial, { force: true });
    throw error;
  }
  await file.close();
  await rename(partial, options.outPath);
  summary.posts = [...posts].sort();
  return summary;
}
