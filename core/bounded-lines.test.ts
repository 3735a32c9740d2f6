import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers/test-config.js';
import { boundedLines, type NumberedLine } from './bounded-lines.js';

async function linesOf(content: string | Buffer, maxBytes: number): Promise<NumberedLine[]> {
  const path = join(tempDir('lines-'), 'file.txt');
  writeFileSync(path, content);
  const lines: NumberedLine[] = [];
  for await (const line of boundedLines(path, maxBytes)) lines.push(line);
  return lines;
}

describe('boundedLines', () => {
  it('numbers lines, drops the CR of CRLF, and keeps a last line without a newline', async () => {
    expect(await linesOf('a\r\n\nbc\nlast', 10)).toEqual([
      { number: 1, text: 'a' },
      { number: 2, text: '' },
      { number: 3, text: 'bc' },
      { number: 4, text: 'last' },
    ]);
  });

  it('joins a line across the 64 KiB chunks, also where a UTF-8 character is cut between them', async () => {
    const long = `${'x'.repeat(65_535)}é${'y'.repeat(70_000)}`;
    const lines = await linesOf(`${long}\nnext\n`, 200_000);
    expect(lines.map((l) => l.text)).toEqual([long, 'next']);
  });

  it('gives a line over the bound as null, and goes on with the next line', async () => {
    const lines = await linesOf(`ok\n${'z'.repeat(150_000)}\nafter\n${'w'.repeat(11)}`, 10);
    expect(lines).toEqual([
      { number: 1, text: 'ok' },
      { number: 2, text: null },
      { number: 3, text: 'after' },
      { number: 4, text: null },
    ]);
  });
});
