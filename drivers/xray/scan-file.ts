/**
 * The scanner's drop-folder protocol: for each scan, `<scanId>.json` (metadata, written last) and,
 * once completed, the image `<scanId>.pgm` it names. The metadata's `status` says which step it
 * reports: requested, started, completed (with the image), or decided (the analyst's decision).
 */
import { z } from 'zod';
import { PLATE_INPUT_MAX_CHARS } from '../../core/plates.js';
import type { XrayReading } from './xray-folder-driver.js';

/**
 * The longest of each of the scanner's words: they travel as they are in `xray.scan` events, to the
 * console and the VMC. Only the whole metadata file was bounded (64 KiB), so one plate could be
 * 60,000 characters (a helper's audit). A plate as an operator may type one; a container number
 * (ISO 6346: 11 characters) with room for spacing; a file name; a reference as long as a path.
 */
export const SCAN_TEXT_MAX_CHARS = { scannerId: 64, plate: PLATE_INPUT_MAX_CHARS, container: 32, image: 255, metadataRef: 1024, analyst: 128, note: 2000 } as const;

const text = (field: keyof typeof SCAN_TEXT_MAX_CHARS) => z.string().max(SCAN_TEXT_MAX_CHARS[field]);

export const scanMetadataSchema = z.strictObject({
  scanId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  scannerId: text('scannerId').min(1),
  status: z.enum(['requested', 'started', 'completed', 'decided']),
  plate: text('plate').nullable().default(null),
  container: text('container').nullable().default(null),
  time: z.iso.datetime({ offset: true }),
  image: text('image').optional().describe('File name of the 16-bit PGM image (status completed)'),
  metadataRef: text('metadataRef').nullable().default(null).describe('WCO UFF or vendor metadata file, as the scanner names it'),
  decision: z.strictObject({ analyst: text('analyst'), result: z.enum(['clear', 'suspect']), note: text('note').optional() }).optional(),
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
