/**
 * A scan image's header, whichever of the two formats the scanner wrote: a binary PGM (`P5`, what
 * the simulated scanner writes) or a DICOS file (`DICM` after a 128-byte preamble, what cargo
 * scanners export). The content decides, not the file's name; the name's extension is only what
 * the drop folder and the kept files go by.
 */
import { DICOS_HEADER_MAX_BYTES, looksLikeDicos, parseDicosHeader } from './dicos.js';
import { parsePgmHeader, PGM_HEADER_MAX_BYTES, type ScanImageHeader, type ScanImageHeaderResult, type ScanImageLimits } from './pgm.js';

/** Bytes a reader gives the header parser at most: a DICOS header may take this many, a PGM's 1024. */
export const SCAN_HEADER_MAX_BYTES = DICOS_HEADER_MAX_BYTES;
/** Bytes before a DICOS file says it is one. */
const DICOS_MAGIC_END = 132;

/** The extensions of scan images' file names, by format. */
export const SCAN_IMAGE_EXTENSIONS = { pgm: '.pgm', dicos: '.dcs' } as const satisfies Record<ScanImageHeader['format'], string>;

/** The media type of a scan image, by its file name. */
export function scanImageContentType(path: string): string {
  return path.endsWith(SCAN_IMAGE_EXTENSIONS.dicos) ? 'application/dicom' : 'image/x-portable-graymap';
}

/**
 * Reads a scan image's header from its first bytes (at most SCAN_HEADER_MAX_BYTES are looked at);
 * `whole` says the bytes are the whole file. Never throws. Refused with `incomplete` when only the
 * first bytes were given and more of them could complete the header.
 */
export function parseScanImageHeader(bytes: Uint8Array, limits: ScanImageLimits = {}, whole = false): ScanImageHeaderResult {
  if (looksLikeDicos(bytes)) return parseDicosHeader(bytes.subarray(0, SCAN_HEADER_MAX_BYTES), limits, whole);
  if (!whole && bytes.length < DICOS_MAGIC_END && bytes[0] !== 0x50) return { ok: false, error: 'truncated image header', incomplete: true };
  return parsePgmHeader(bytes, limits);
}

/**
 * The header of a file of `size` bytes whose first bytes `firstBytes(length)` reads: its first KiB,
 * and only for a DICOS header that goes on past it, up to SCAN_HEADER_MAX_BYTES. So a PGM is read
 * no further than its header's bound, whatever the file.
 */
export function readScanImageHeader(firstBytes: (length: number) => Uint8Array, size: number, limits: ScanImageLimits = {}): ScanImageHeaderResult {
  const head = firstBytes(Math.min(size, PGM_HEADER_MAX_BYTES));
  const parsed = parseScanImageHeader(head, limits, head.length === size);
  return needsMore(parsed, head.length, size) ? parseScanImageHeader(firstBytes(Math.min(size, SCAN_HEADER_MAX_BYTES)), limits, Math.min(size, SCAN_HEADER_MAX_BYTES) === size) : parsed;
}

/** `readScanImageHeader` with an asynchronous read. */
export async function readScanImageHeaderAsync(firstBytes: (length: number) => Promise<Uint8Array>, size: number, limits: ScanImageLimits = {}): Promise<ScanImageHeaderResult> {
  const head = await firstBytes(Math.min(size, PGM_HEADER_MAX_BYTES));
  const parsed = parseScanImageHeader(head, limits, head.length === size);
  return needsMore(parsed, head.length, size) ? parseScanImageHeader(await firstBytes(Math.min(size, SCAN_HEADER_MAX_BYTES)), limits, Math.min(size, SCAN_HEADER_MAX_BYTES) === size) : parsed;
}

/** The first read was all there was to read and the header may go on past it. */
function needsMore(parsed: ScanImageHeaderResult, headLength: number, size: number): boolean {
  return !parsed.ok && parsed.incomplete === true && headLength === PGM_HEADER_MAX_BYTES && size > headLength;
}
