/**
 * The simulated scanner's image files: binary PGM, written from the Netpbm specification (pgm(5),
 * "the PGM format"): the magic `P5`, whitespace, the width, whitespace, the height, whitespace,
 * the maximum grey value (1–65535) as ASCII decimals, a single whitespace character, then the
 * raster row by row, one byte per sample when maxval < 256, else two bytes, most significant
 * first. The simulator's own writer: it shares nothing with the driver's reader.
 */

/** A greyscale image as the scanner produces it. */
export interface GreyImage {
  width: number;
  height: number;
  maxval: number;
  pixels: Uint16Array;
}

export function writePgm(image: GreyImage): Buffer {
  const { width, height, maxval, pixels } = image;
  if (!Number.isInteger(maxval) || maxval < 1 || maxval > 65535) throw new RangeError(`PGM maxval must be 1 to 65535, not ${maxval}`);
  if (pixels.length !== width * height) throw new RangeError(`${width}x${height} needs ${width * height} samples, not ${pixels.length}`);
  const header = Buffer.from(`P5\n${width} ${height}\n${maxval}\n`, 'latin1');
  const bytesPerSample = maxval < 256 ? 1 : 2;
  const raster = Buffer.alloc(pixels.length * bytesPerSample);
  for (let i = 0; i < pixels.length; i += 1) {
    const sample = Math.min(pixels[i] as number, maxval);
    if (bytesPerSample === 1) raster[i] = sample;
    else raster.writeUInt16BE(sample, i * 2);
  }
  return Buffer.concat([header, raster]);
}
