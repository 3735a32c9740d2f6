/**
 * A minimal multipart/form-data (and multipart/mixed) reader for device pushes: parts with their
 * headers and raw bytes (RFC 2046, 5.1.1). Bounded by construction: at most `maxParts` parts, each
 * header block at most `maxHeaderBytes`, each body at most `maxPartBytes`; and a body must end
 * with its close delimiter (`--boundary--`), so a push cut off anywhere is refused whole, never
 * read as the parts that happened to arrive.
 */

export interface Part {
  headers: Record<string, string>;
  name: string | null;
  filename: string | null;
  contentType: string | null;
  /**
   * A view of the pushed body, not a copy (a copy of a camera's 170 KiB push was 1 % of handling
   * it, of a scanner's image up to the listener's 48 MiB): what keeps a part longer than the push
   * copies it, or the whole push stays in memory with it.
   */
  body: Buffer;
}

export interface MultipartLimits {
  /** Most parts in one body. */
  maxParts: number;
  /** Largest header block of one part. */
  maxHeaderBytes: number;
  /** Largest body of one part. */
  maxPartBytes: number;
}

/** A camera push is an XML alert and a few JPEGs; a scanner's, metadata and one image. */
export const DEFAULT_MULTIPART_LIMITS: MultipartLimits = { maxParts: 8, maxHeaderBytes: 8 * 1024, maxPartBytes: 8 * 1024 * 1024 };

/** Longest delimiter line (transport padding after the boundary) read before it is refused. */
export const MAX_DELIMITER_LINE = 256;

export type MultipartResult = { ok: true; parts: Part[] } | { ok: false; error: string };

export function boundaryOf(contentType: string | undefined): string | null {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return match ? (match[1] ?? match[2] ?? null) : null;
}

/** Reads every part, or says why the body is refused (truncated, malformed or over a limit). */
export function readMultipart(body: Buffer, boundary: string, limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS): MultipartResult {
  // RFC 2046: 1 to 70 characters.
  if (boundary.length < 1 || boundary.length > 70) return { ok: false, error: 'the multipart boundary is not 1-70 characters' };
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // The first delimiter may open the body; any other follows a CRLF (after a preamble).
  const at = body.subarray(0, dashBoundary.length).equals(dashBoundary) ? 0 : body.indexOf(delimiter);
  if (at < 0) return { ok: false, error: 'no multipart boundary in the body' };
  let afterDelimiter = at + (at === 0 && body[0] === 0x2d ? dashBoundary.length : delimiter.length);
  const parts: Part[] = [];
  for (;;) {
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString('latin1') === '--') return { ok: true, parts };
    const lineEnd = body.indexOf('\r\n', afterDelimiter);
    // After a delimiter: optional transport padding (spaces, tabs; at most MAX_DELIMITER_LINE
    // bytes, as the streaming reader holds no more), then CRLF.
    if (lineEnd < 0 || lineEnd - afterDelimiter > MAX_DELIMITER_LINE || !/^[ \t]*$/.test(body.subarray(afterDelimiter, lineEnd).toString('latin1'))) {
      return { ok: false, error: lineEnd < 0 ? 'the body is truncated (no close delimiter)' : 'malformed multipart delimiter line' };
    }
    if (parts.length === limits.maxParts) return { ok: false, error: `more than ${limits.maxParts} parts` };
    const partStart = lineEnd + 2;
    const next = body.indexOf(delimiter, partStart);
    if (next < 0) return { ok: false, error: `the body is truncated in part ${parts.length + 1} (no close delimiter)` };
    const part = readPart(body.subarray(partStart, next), parts.length + 1, limits);
    if (typeof part === 'string') return { ok: false, error: part };
    parts.push(part);
    afterDelimiter = next + delimiter.length;
  }
}

/** The parts of a complete body within the default limits; none when it is refused (see `readMultipart` for why). */
export function parseMultipart(body: Buffer, boundary: string, limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS): Part[] {
  const result = readMultipart(body, boundary, limits);
  return result.ok ? result.parts : [];
}

function readPart(raw: Buffer, index: number, limits: MultipartLimits): Part | string {
  // A part with no headers starts with the blank line itself.
  const headerEnd = raw.subarray(0, 2).toString('latin1') === '\r\n' ? -2 : raw.subarray(0, limits.maxHeaderBytes + 4).indexOf('\r\n\r\n');
  if (headerEnd === -1) return raw.length > limits.maxHeaderBytes ? `part ${index}: headers over ${limits.maxHeaderBytes} bytes` : `part ${index}: no end of headers`;
  const content = raw.subarray(headerEnd + 4);
  if (content.length > limits.maxPartBytes) return `part ${index}: over ${limits.maxPartBytes} bytes`;
  return { ...partHeaders(raw.subarray(0, Math.max(0, headerEnd))), body: content };
}

/** A part's header block (without its blank line) read into its headers and their parameters. */
export function partHeaders(block: Buffer): Omit<Part, 'body'> {
  const headers: Record<string, string> = {};
  if (block.length > 0) {
    for (const line of block.toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      const key = line.slice(0, colon).trim().toLowerCase();
      if (colon > 0 && !Object.hasOwn(headers, key)) Object.defineProperty(headers, key, { value: line.slice(colon + 1).trim(), enumerable: true, writable: true, configurable: true });
    }
  }
  const disposition = headers['content-disposition'] ?? '';
  return {
    headers,
    name: /\bname="([^"]*)"/.exec(disposition)?.[1] ?? null,
    filename: /filename="([^"]*)"/.exec(disposition)?.[1] ?? null,
    contentType: headers['content-type']?.split(';')[0]?.trim() ?? null,
  };
}
