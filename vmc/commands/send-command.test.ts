/**
 * A watchlist typed or uploaded by an admin, as the VMC reads it before signing: plates one per
 * line, comments and blank lines skipped, duplicates once, and the bound on its plates checked as
 * the text is read, so a text of a million plates is refused at the first one past the bound.
 */
import { describe, expect, it } from 'vitest';
import { MAX_WATCHLIST_PLATES } from '../../contract/vmc-command.js';
import { countingTurns } from '../../test/helpers/loop-turns.js';
import { WATCHLIST_LINES_PER_TURN, watchlistFromText } from './send-command.js';

const platesText = (count: number): string => Array.from({ length: count }, (_, i) => `AB${String(i).padStart(7, '0')}`).join('\n');

describe('a watchlist from text', () => {
  it('reads plates one per line, without comments, blank lines or repeats', async () => {
    expect(await watchlistFromText('GE-111-AA  # the red truck\n\nGE111AA\r\n  ZZ-909-ZZ\n')).toEqual({ payload: { plates: ['GE111AA', 'ZZ909ZZ'] }, summary: '2 plate(s)' });
  });

  it(`takes ${MAX_WATCHLIST_PLATES} plates and refuses one more at its line, however long the text goes on`, async () => {
    expect(((await watchlistFromText(platesText(MAX_WATCHLIST_PLATES))).payload.plates as string[]).length).toBe(MAX_WATCHLIST_PLATES);
    for (const count of [MAX_WATCHLIST_PLATES + 1, 10 * MAX_WATCHLIST_PLATES]) {
      await expect(watchlistFromText(platesText(count))).rejects.toThrow(`more than ${MAX_WATCHLIST_PLATES} plates (line ${MAX_WATCHLIST_PLATES + 1})`);
    }
  });

  it('names the line of a bad plate, counting blank lines, comments and CRLF line ends', async () => {
    await expect(watchlistFromText('GE111AA\r\n\r\n# list of the day\r\nGE 222 Ж\r\n')).rejects.toThrow('line 4: not a plate');
  });

  it(`lets the event loop turn every ${WATCHLIST_LINES_PER_TURN} lines rather than reading the whole text in one turn`, async () => {
    const { result, turns } = await countingTurns(() => watchlistFromText(platesText(MAX_WATCHLIST_PLATES)));
    expect((result.payload.plates as string[]).length).toBe(MAX_WATCHLIST_PLATES);
    expect(turns).toBeGreaterThanOrEqual(MAX_WATCHLIST_PLATES / WATCHLIST_LINES_PER_TURN);
  });
});
