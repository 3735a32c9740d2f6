/**
 * Measures of a model on held-out data: the ROC AUC (the chance a random positive scores above a
 * random negative, ties counting half) and confusion counts at the decision thresholds.
 */

export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let positives = 0;
  let rankSum = 0;
  // Average ranks over ties (Mann–Whitney U).
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1] as number] === scores[order[start] as number]) end += 1;
    const averageRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k += 1) {
      if (labels[order[k] as number] === 1) {
        positives += 1;
        rankSum += averageRank;
      }
    }
    start = end + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) throw new RangeError('AUC needs both positive and negative examples');
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** The value below which `share` of the sorted values lie (nearest rank). */
export function quantile(values: ArrayLike<number>, share: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))] as number;
}
