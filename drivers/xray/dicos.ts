/**
 * DICOS X-ray images (NEMA IIC 1, "DICOM for security"): the format cargo and baggage scanners
 * export a digital X-ray (DX) image in. A DICOS file is a DICOM Part 10 file: a 128-byte preamble,
 * `DICM`, the file meta information (group 0002, explicit VR little endian) naming the transfer
 * syntax, then the data set, whose Pixel Data (7FE0,0010) holds the samples.
 *
 * Only the header is parsed here, from the file's first bytes, as the PGM header is (pgm.ts): it
 * says where the samples lie and how many there are, so a file is refused by its header and size
 * before a sample is read, and every reader of scan images reads a DICOS image as it reads a PGM.
 * Taken: one frame of 16-bit unsigned greyscale samples (MONOCHROME2, or MONOCHROME1 read inverted),
 * uncompressed (explicit or implicit VR little endian). Refused, saying why: compressed transfer
 * syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE, deflate), big endian, several frames, signed or 8-bit
 * samples, colour. The scanner is an adversary until proven otherwise: at most
 * DICOS_HEADER_MAX_BYTES are looked at, every length is checked against them, sequences nest at
 * most MAX_NESTING deep, and every step moves forward, so no file can loop, recurse or read far.
 */
import type { ScanImageHeaderResult, ScanImageLimits } from './pgm.js';
import { PGM_MAX_SIDE } from './pgm.js';

/** The data set before the Pixel Data must end within this many bytes of the file's start. */
export const DICOS_HEADER_MAX_BYTES = 256 * 1024;
const PREAMBLE_BYTES = 128;
const EXPLICIT_LITTLE = '1.2.840.10008.1.2.1';
const IMPLICIT_LITTLE = '1.2.840.10008.1.2';
/** Transfer syntaxes named in refusals, so an integrator knows what to set the scanner to instead. */
const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.1.99': 'deflated explicit VR little endian',
  '1.2.840.10008.1.2.4.50': 'JPEG baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG extended',
  '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless, first-order prediction',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE lossless',
};
/** Sequences within sequences, at most (the data set's own are the first). */
const MAX_NESTING = 16;
/** VRs whose length is 4 bytes after 2 reserved ones in explicit VR (PS3.5 7.1.2). */
const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQUENCE_END = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

/** The image pixel module's attributes read (PS3.3 C.7.6.3), by tag. */
const WANTED = {
  0x00280002: 'samplesPerPixel',
  0x00280004: 'photometric',
  0x00280008: 'frames',
  0x00280010: 'rows',
  0x00280011: 'columns',
  0x00280100: 'bitsAllocated',
  0x00280101: 'bitsStored',
  0x00280102: 'highBit',
  0x00280103: 'pixelRepresentation',
} as const;
type Wanted = (typeof WANTED)[keyof typeof WANTED];
const TEXT_ATTRIBUTES = new Set<Wanted>(['photometric', 'frames']);

/** Whether the bytes begin as a DICOM Part 10 file does (the preamble, then `DICM`). */
export function looksLikeDicos(bytes: Uint8Array): boolean {
  return bytes.length >= PREAMBLE_BYTES + 4 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

class Refusal extends Error {
  /** More of the file's bytes could have changed the answer (its first bytes only were given, fewer than may be looked at). */
  constructor(
    message: string,
    readonly needsMore = false,
  ) {
    super(message);
  }
}

interface Element {
  tag: number;
  vr: string | null;
  length: number;
  /** Offset of the value's first byte. */
  value: number;
}

/** Reads elements from the bytes looked at, each read checked to lie within them. */
class ElementReader {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
    /** How many bytes may be looked at. */
    readonly end: number,
    /** The whole file was given (so running out of bytes means the file is short). */
    private readonly whole: boolean,
  ) {}

  /** Fails the parse: the file ends inside the header, or the header goes on past what may be looked at. */
  outOfBytes(what: string): Refusal {
    if (this.end >= DICOS_HEADER_MAX_BYTES) return new Refusal(`DICOS header longer than ${DICOS_HEADER_MAX_BYTES} bytes (${what} not within them)`);
    return new Refusal(`truncated DICOS file (${what})`, !this.whole);
  }

  read(at: number, explicit: boolean): Element {
    if (at + 8 > this.end) throw this.outOfBytes('an element');
    const tag = ((this.view.getUint16(at, true) << 16) | this.view.getUint16(at + 2, true)) >>> 0;
    // Items and delimiters carry no VR, whatever the transfer syntax.
    if (tag >>> 16 === 0xfffe || !explicit) return { tag, vr: null, length: this.view.getUint32(at + 4, true), value: at + 8 };
    const vr = String.fromCharCode(this.bytes[at + 4] as number, this.bytes[at + 5] as number);
    if (!/^[A-Z]{2}$/.test(vr)) throw new Refusal(`not a DICOS data set: element (${hex(tag)}) has no value representation at byte ${at}`);
    if (!LONG_LENGTH_VRS.has(vr)) return { tag, vr, length: this.view.getUint16(at + 6, true), value: at + 8 };
    if (at + 12 > this.end) throw this.outOfBytes('an element');
    return { tag, vr, length: this.view.getUint32(at + 8, true), value: at + 12 };
  }

  /** The value's bytes, which must lie within what may be looked at. */
  value(element: Element): Uint8Array {
    if (element.value + element.length > this.end) throw this.outOfBytes(`the value of (${hex(element.tag)})`);
    return this.bytes.subarray(element.value, element.value + element.length);
  }
}

const hex = (tag: number): string => `${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')}`;
const text = (value: Uint8Array): string => Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1').replace(/[\0 ]+$/, '');

/**
 * Passes over a sequence (or an item) of undefined length, whose end only its delimiter tells;
 * answers the offset after it. Items of defined length are skipped whole; items of undefined
 * length are data sets of their own, read element by element to their delimiter.
 */
function skipUndefined(reader: ElementReader, at: number, explicit: boolean, depth: number): number {
  if (depth > MAX_NESTING) throw new Refusal(`DICOS sequences nested deeper than ${MAX_NESTING}`);
  for (let offset = at; ; ) {
    const item = reader.read(offset, explicit);
    if (item.tag === SEQUENCE_END) return item.value;
    if (item.tag !== ITEM) throw new Refusal(`not a DICOS data set: (${hex(item.tag)}) where a sequence item was expected at byte ${offset}`);
    offset = item.length === UNDEFINED_LENGTH ? skipDataSet(reader, item.value, explicit, depth) : item.value + item.length;
  }
}

/** Passes over an item's data set of undefined length; answers the offset after its delimiter. */
function skipDataSet(reader: ElementReader, at: number, explicit: boolean, depth: number): number {
  for (let offset = at; ; ) {
    const element = reader.read(offset, explicit);
    if (element.tag === ITEM_END) return element.value;
    offset = afterElement(reader, element, explicit, depth);
  }
}

/** The offset after an element: past its value, or past its sequence's delimiter. */
function afterElement(reader: ElementReader, element: Element, explicit: boolean, depth: number): number {
  if (element.length !== UNDEFINED_LENGTH) return element.value + element.length;
  // Undefined length: a sequence (SQ; UN holds one encoded implicitly, PS3.5 6.2.2; implicit VR any).
  if (element.vr === null || element.vr === 'SQ') return skipUndefined(reader, element.value, explicit, depth + 1);
  if (element.vr === 'UN') return skipUndefined(reader, element.value, false, depth + 1);
  throw new Refusal(`not a DICOS data set: (${hex(element.tag)}) ${element.vr} of undefined length`);
}

/**
 * Reads a DICOS file's header from its first bytes (at most DICOS_HEADER_MAX_BYTES are looked at);
 * `whole` says the bytes are the whole file. Never throws.
 */
export function parseDicosHeader(bytes: Uint8Array, limits: ScanImageLimits = {}, whole = false): ScanImageHeaderResult {
  try {
    return parse(bytes, limits, whole);
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, error: error.message, ...(error.needsMore ? { incomplete: true } : {}) };
    throw error;
  }
}

function parse(bytes: Uint8Array, limits: ScanImageLimits, whole: boolean): ScanImageHeaderResult {
  if (!looksLikeDicos(bytes)) return { ok: false, error: 'not a DICOS file (no DICM after the preamble)', ...(!whole && bytes.length < PREAMBLE_BYTES + 4 ? { incomplete: true } : {}) };
  const end = Math.min(bytes.length, DICOS_HEADER_MAX_BYTES);
  const reader = new ElementReader(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.length), end, whole);
  // File meta information: group 0002, always explicit VR little endian.
  let offset = PREAMBLE_BYTES + 4;
  let transferSyntax: string | null = null;
  for (;;) {
    if (offset + 2 > end) throw reader.outOfBytes('the file meta information');
    if (new DataView(bytes.buffer, bytes.byteOffset + offset, 2).getUint16(0, true) !== 0x0002) break;
    const element = reader.read(offset, true);
    if (element.length === UNDEFINED_LENGTH) throw new Refusal(`not a DICOS file: meta element (${hex(element.tag)}) of undefined length`);
    if (element.tag === 0x00020010) transferSyntax = text(reader.value(element));
    offset = element.value + element.length;
  }
  if (transferSyntax === null) return { ok: false, error: 'not a DICOS file: no transfer syntax in its meta information' };
  if (transferSyntax !== EXPLICIT_LITTLE && transferSyntax !== IMPLICIT_LITTLE) {
    const name = TRANSFER_SYNTAX_NAMES[transferSyntax];
    return { ok: false, error: `DICOS image in transfer syntax ${transferSyntax.slice(0, 64)}${name ? ` (${name})` : ''}: only uncompressed little endian images are read; set the scanner to export uncompressed (${EXPLICIT_LITTLE})` };
  }
  const explicit = transferSyntax === EXPLICIT_LITTLE;
  const found: Partial<Record<Wanted, number | string>> = {};
  for (;;) {
    const element = reader.read(offset, explicit);
    if (element.tag === PIXEL_DATA) {
      if (element.length === UNDEFINED_LENGTH) return { ok: false, error: 'DICOS pixel data is encapsulated (compressed): only uncompressed images are read' };
      return imageHeader(found, element, limits);
    }
    // Past the pixel data's group: no pixel data comes.
    if (element.tag > PIXEL_DATA) return { ok: false, error: 'DICOS file without pixel data' };
    const wanted = WANTED[element.tag as keyof typeof WANTED] as Wanted | undefined;
    if (wanted && element.length !== UNDEFINED_LENGTH) {
      const value = reader.value(element);
      if (TEXT_ATTRIBUTES.has(wanted)) found[wanted] = text(value);
      else if (value.length === 2) found[wanted] = (value[0] as number) | ((value[1] as number) << 8);
      else return { ok: false, error: `DICOS attribute (${hex(element.tag)}) of ${value.length} bytes, not one US value` };
    }
    offset = afterElement(reader, element, explicit, 0);
  }
}

/** The header of the samples, once every attribute they depend on is known and sound. */
function imageHeader(found: Partial<Record<Wanted, number | string>>, pixels: Element, limits: ScanImageLimits): ScanImageHeaderResult {
  const { rows, columns, bitsAllocated, bitsStored, highBit, pixelRepresentation, samplesPerPixel, photometric, frames } = found;
  const maxSide = limits.maxSide ?? PGM_MAX_SIDE;
  if (typeof rows !== 'number' || typeof columns !== 'number') return { ok: false, error: 'DICOS image without Rows or Columns' };
  if (rows < 1 || columns < 1 || rows > maxSide || columns > maxSide) return { ok: false, error: `bad DICOS image size ${columns}x${rows} (each side 1 to ${maxSide})` };
  if (samplesPerPixel !== 1) return { ok: false, error: `DICOS image with ${String(samplesPerPixel ?? 'no')} samples per pixel: a greyscale image (1) is required` };
  if (photometric !== 'MONOCHROME2' && photometric !== 'MONOCHROME1') return { ok: false, error: `DICOS image of photometric interpretation ${JSON.stringify(String(photometric ?? 'none').slice(0, 20))}: MONOCHROME2 or MONOCHROME1 is required` };
  if (frames !== undefined && frames !== '' && frames !== '1') return { ok: false, error: `DICOS image of ${String(frames).slice(0, 12)} frames: one frame is required` };
  if (bitsAllocated !== 16) return { ok: false, error: `DICOS image of ${String(bitsAllocated ?? 'no')} bits allocated: 16-bit samples are required` };
  if (typeof bitsStored !== 'number' || bitsStored < 1 || bitsStored > 16) return { ok: false, error: `DICOS image of ${String(bitsStored ?? 'no')} bits stored` };
  if (highBit !== undefined && highBit !== bitsStored - 1) return { ok: false, error: `DICOS image whose high bit ${highBit} is not bits stored − 1 (${bitsStored - 1})` };
  if (pixelRepresentation !== 0) return { ok: false, error: 'DICOS image of signed samples: unsigned samples are required' };
  const bodyBytes = rows * columns * 2;
  if (pixels.length !== bodyBytes) return { ok: false, error: `DICOS pixel data of ${pixels.length} bytes, not the ${bodyBytes} of ${columns}x${rows} 16-bit samples` };
  if (limits.maxBodyBytes !== undefined && bodyBytes > limits.maxBodyBytes) {
    return { ok: false, error: `image of ${columns}x${rows} needs ${bodyBytes} bytes of samples, more than the ${limits.maxBodyBytes} allowed` };
  }
  const maxval = 2 ** bitsStored - 1;
  return {
    ok: true,
    header: {
      format: 'dicos',
      width: columns,
      height: rows,
      maxval,
      bytesPerSample: 2,
      littleEndian: true,
      // MONOCHROME1: the lowest value is white; read inverted, so every image's samples mean the same.
      inverted: photometric === 'MONOCHROME1',
      sampleMask: maxval,
      headerBytes: pixels.value,
      bodyBytes,
      trailingAllowed: true,
    },
  };
}
