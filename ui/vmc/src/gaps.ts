/**
 * What the "Open gaps" panel says about the gaps it does not list. `GET /api/gaps` answers one
 * page (by post, then seq) with `X-Total-Count` and, when more follow, a `Link rel="next"`; a post
 * at its bound holds 200 open gaps, so six such posts fill the first page and the posts after them
 * in the alphabet were left out without a word.
 */
import type { Gap, Post } from './api.js';

export interface GapsShown {
  /** Gaps listed. */
  shown: number;
  /** Gaps the filters select over all pages (X-Total-Count); `shown` when the header was absent. */
  total: number;
  /** Posts with open gaps (per /api/posts) of which fewer are listed, and how many are not. */
  notReached: { postId: string; notShown: number }[];
}

/**
 * Null when the page holds every gap; else how many it lists of how many, and which posts' gaps it
 * leaves out. `posts` are those the dashboard shows (already narrowed to the filter's posts).
 */
export function gapsNotShown(gaps: Gap[], total: number | null, hasNext: boolean, posts: Post[]): GapsShown | null {
  const all = Math.max(total ?? gaps.length, gaps.length);
  if (!hasNext && all === gaps.length) return null;
  const listed = new Map<string, number>();
  for (const gap of gaps) listed.set(gap.postId, (listed.get(gap.postId) ?? 0) + 1);
  const notReached = posts.map((p) => ({ postId: p.postId, notShown: p.openGaps - (listed.get(p.postId) ?? 0) })).filter((p) => p.notShown > 0);
  return { shown: gaps.length, total: all, notReached };
}
