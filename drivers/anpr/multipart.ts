/**
 * A minimal multipart/form-data (and multipart/mixed) reader for camera pushes: parts with their
 * headers and raw bytes. Bounded by the request size the HTTP server accepts.
 */

export interface Part {
  headers: Record<string, string>;
  name: string | null;
  filename: string | null;
  contentType: string | null;
  body: Buffer;
}

export function boundaryOf(contentType: string | undefined): string | null {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return match ? (match[1] ?? match[2] ?? null) : null;
}

export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, afterDelimiter);
    if (next < 0) break;
    const raw = body.subarray(afterDelimiter, next);
    const headerEnd = raw.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      const headers: Record<string, string> = {};
      for (const line of raw.subarray(0, headerEnd).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let content = raw.subarray(headerEnd + 4);
      if (content.subarray(-2).toString() === '\r\n') content = content.subarray(0, -2);
      const disposition = headers['content-disposition'] ?? '';
      parts.push({
        headers,
        name: /name="([^"]*)"/.exec(disposition)?.[1] ?? null,
        filename: /filename="([^"]*)"/.exec(disposition)?.[1] ?? null,
        contentType: headers['content-type']?.split(';')[0]?.trim() ?? null,
        body: Buffer.from(content),
      });
    }
    start = next;
  }
  return parts;
}
