/**
 * The scanner's drop-folder protocol: for each scan, `<scanId>.json` (metadata, written last) and,
 * once completed, the image `<scanId>.pgm` it names. The metadata's `status` says which step it
 * reports: requested, started, completed (with the image), or decided (the analyst's decision).
 */
import { z } from 'zod';
import type { XrayReading } from './xray-folder-driver.js';

export const scanMetadataSchema = z.strictObject({
  scanId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  scannerId: z.string().min(1),
  status: z.enum(['requested', 'started', 'completed', 'decided']),
  plate: z.string().nullable().default(null),
  container: z.string().nullable().default(null),
  time: z.iso.datetime({ offset: true }),
  image: z.string().optional().describe('File name of the 16-bit PGM image (status completed)'),
  metadataRef: z.string().nullable().default(null).describe('WCO UFF or vendor metadata file, as the scanner names it'),
  decision: z.strictObject({ analyst: z.string(), result: z.enum(['clear', 'suspect']), note: z.string().optional() }).optional(),
});
export type ScanMetadata = z.infer<typeof scanMetadataSchema>;

/** The reading every X-ray driver makes of a scan's metadata, where its image is and what it shows. */
export function scanReading(deviceId: string, metadata: ScanMetadata, imageRef: string | null, image: XrayReading['image'], atMs: number): XrayReading {
  return {
    type: 'scan',
    deviceId,
    status: metadata.status,
    scanId: metadata.scanId,
    scannerId: metadata.scannerId,
    plate: metadata.plate,
    container: metadata.container,
    scannerTime: metadata.time,
    imageRef,
    image,
    metadataRef: metadata.metadataRef,
    decision: metadata.decision ?? null,
    atMs,
  };
}
