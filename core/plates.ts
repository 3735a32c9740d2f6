/**
 * Plates compared as OCR reads them. Cameras confuse 0/O, 1/I, 8/B and 5/S and disagree on spaces
 * and dashes, so the workflow (entry vs exit) and the risk features (watchlist) both compare the
 * canonical form below rather than the text.
 */

/** The canonical form: upper case, no separators, each confusable pair folded to its digit. */
export function canonicalPlate(plate: string): string {
  return plate
    .toUpperCase()
    .replace(/[\s\-.]/g, '')
    .replace(/O/g, '0')
    .replace(/I/g, '1')
    .replace(/B/g, '8')
    .replace(/S/g, '5');
}

export function platesMatch(a: string, b: string): boolean {
  return canonicalPlate(a) === canonicalPlate(b);
}
