import { describe, expect, it } from 'vitest';
import type { Gap, Post } from './api.js';
import { gapsNotShown } from './gaps.js';

const post = (postId: string, openGaps: number): Post => ({ postId, lastSeen: '2026-11-27T12:00:00.000Z', lastSeq: 1, status: null, lanes: [], devices: [], openGaps, lastSeqRestart: null });
const gapsOf = (postId: string, n: number): Gap[] =>
  Array.from({ length: n }, (_, i) => ({ id: i, postId, kind: 'missing', firstSeq: 2 * i + 1, lastSeq: 2 * i + 1, missing: 1, openedAt: '2026-11-27T12:00:00.000Z', closedAt: null }));

describe('the open gaps the dashboard does not list', () => {
  it('says nothing when the page holds every gap', () => {
    expect(gapsNotShown(gapsOf('post-a', 3), 3, false, [post('post-a', 3)])).toBeNull();
    expect(gapsNotShown([], 0, false, [post('post-a', 0)])).toBeNull();
  });

  it('gives N of M and the posts the first page did not reach, when the API says more follow', () => {
    // Five posts at 200 fill a page of 1,000; post-f and post-g come after it.
    const posts = ['post-a', 'post-b', 'post-c', 'post-d', 'post-e', 'post-f', 'post-g'].map((id) => post(id, 200));
    const page = posts.slice(0, 5).flatMap((p) => gapsOf(p.postId, 200));
    expect(gapsNotShown(page, 1400, true, posts)).toEqual({
      shown: 1000,
      total: 1400,
      notReached: [
        { postId: 'post-f', notShown: 200 },
        { postId: 'post-g', notShown: 200 },
      ],
    });
    // A post the page cuts through counts its gaps not listed.
    expect(gapsNotShown(page.slice(0, 950), 1400, true, posts)?.notReached[0]).toEqual({ postId: 'post-e', notShown: 50 });
  });

  it('counts a cut without the total header, and a total over the page without a link', () => {
    expect(gapsNotShown(gapsOf('post-a', 2), null, true, [post('post-a', 5)])).toEqual({ shown: 2, total: 2, notReached: [{ postId: 'post-a', notShown: 3 }] });
    expect(gapsNotShown(gapsOf('post-a', 2), 4, false, [post('post-a', 4)])).toMatchObject({ shown: 2, total: 4 });
  });
});
