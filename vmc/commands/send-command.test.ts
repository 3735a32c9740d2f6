/**
 * A watchlist typed or uploaded by an admin, as the VMC reads it before signing: plates one per
 * line, comments and blank lines skipped, duplicates once, and the bound on its plates checked as
 * the text is read, so a text of a million plates is refused at the first one past the bound.
 */
import { describe, expect, it } from 'vitest';
import { MAX_WATCHLIST_PLATES } from '../../contract/vmc-command.js';
import { watchlistFromText } from './send-command.js';

const platesText = (count: number): string => Array.from({ length: count }, (_, i) => `AB${String(i).padStart(7, '0')}`).join('\n');

describe('a watchlist from text', () => {
  it('reads plates one per line, without comments, blank lines or repeats', () => {
    expect(watchlistFromText('GE-111-AA  # the red truck\n\nGE111AA\r\n  ZZ-909-ZZ\n')).toEqual({ payload: { plates: ['GE111AA', 'ZZ909ZZ'] }, summary: '2 plate(s)' });
  });

  it(`takes ${MAX_WATCHLIST_PLATES} plates and refuses one more at its line, however long the text goes on`, () => {
    expect((watchlistFromText(platesText(MAX_WATCHLIST_PLATES)).payload.plates as string[]).length).toBe(MAX_WATCHLIST_PLATES);
    for (const count of [MAX_WATCHLIST_PLATES + 1, 10 * MAX_WATCHLIST_PLATES]) {
      expect(() => watchlistFromText(platesText(count))).toThrow(`more than ${MAX_WATCHLIST_PLATES} plates (line ${MAX_WATCHLIST_PLATES + 1})`);
    }
  });
});
