/**
 * Labelled training rows: what `vmc export-training` writes (JSON Lines, one completed crossing a
 * line) and `model train --from` reads. A row joins what the gateway knew when it decided (the
 * features `risk.assessed` carried) with what the crossing turned out to be (the X-ray result and
 * the inspection outcome), and says where and when, so a trainer can split by time and by post.
 * No plate: the features hold what a model needs, and a training file travels further than the
 * VMC's store.
 */
import { z } from 'zod';
import { CHANNELS } from './catalogue.js';
import { ID_PATTERN } from '../core/identifiers.js';

/** The row format's version; a reader refuses rows of another. */
export const TRAINING_ROW_FORMAT = 1;

/** A line longer than this is refused (a row is about 700 bytes). */
export const TRAINING_LINE_MAX_BYTES = 16 * 1024;

const isoTime = z.iso.datetime({ offset: false, precision: 3 });

export const trainingRowSchema = z.strictObject({
  format: z.literal(TRAINING_ROW_FORMAT),
  crossingId: z.string().min(1).max(200),
  postId: z.string().regex(ID_PATTERN),
  laneId: z.string().regex(ID_PATTERN),
  /** When the risk was assessed (the `risk.assessed` event's time): the order a trainer splits by. */
  assessedAt: isoTime,
  completedAt: isoTime,
  /** The risk model's inputs at the decision, by name, as `risk.assessed.data.features` carried them. */
  features: z.record(z.string().max(64), z.number()).refine((record) => Object.keys(record).length <= 64, 'at most 64 features'),
  /** The decision as it was made (before any operator override). */
  decision: z.strictObject({ channel: z.enum(CHANNELS), score: z.number().min(0).max(1), modelVersion: z.string().max(200) }),
  /** The channel the crossing ended in (an operator may have overridden the decision). */
  channel: z.enum(CHANNELS),
  /** The X-ray result (the analyst's, else the screening model's); null when not scanned. */
  xray: z.enum(['clear', 'suspect']).nullable(),
  /** The physical inspection's outcome; null when not inspected. */
  inspection: z.enum(['cleared', 'irregularity', 'refused']).nullable(),
});

export type TrainingRow = z.infer<typeof trainingRowSchema>;
