/**
 * Doubles appended one at a time and read back sorted ascending, without ever sorting them all
 * at once: every `runLength` values appended are sorted (a small sort), and the last two sorted
 * runs are merged whenever the newer is as long as the older, as a bottom-up merge sort does, a
 * little at each append. So no append, and no read, holds the event loop longer than a linear
 * merge: sorting 300,000 doubles in one go took 60–120 ms here, a merge of them a few ms. What
 * the TRS report keeps of every crossing (trs-report.ts), in typed arrays: 8 bytes a value, and
 * a scratch buffer as long as the longest run merged.
 */
export class SortedDoubles {
  private values = new Float64Array(1024);
  private scratch = new Float64Array(0);
  private count = 0;
  /** values[0, sorted) is covered by these sorted runs, by length, the oldest (longest) first. */
  private readonly runs: number[] = [];
  private sorted = 0;

  /** @param runLength values appended before they are sorted into a run (default 4096). */
  constructor(private readonly runLength = 4096) {
    if (!(Number.isInteger(runLength) && runLength > 0)) throw new RangeError(`run length must be a whole number > 0, got ${runLength}`);
  }

  get length(): number {
    return this.count;
  }

  push(value: number): void {
    if (this.count === this.values.length) {
      const larger = new Float64Array(this.values.length * 2);
      larger.set(this.values);
      this.values = larger;
    }
    this.values[this.count] = value;
    this.count += 1;
    if (this.count - this.sorted === this.runLength) this.seal(false);
  }

  /** Every value so far, ascending (a view, valid until the next push). */
  ascending(): Float64Array {
    this.seal(true);
    return this.values.subarray(0, this.count);
  }

  /** Sorts the values not yet in a run into one, then merges runs: the last two of like length, or (`all`) every one. */
  private seal(all: boolean): void {
    if (this.count > this.sorted) {
      // A typed array's own sort is numeric without a comparator, and much faster than with one.
      this.values.subarray(this.sorted, this.count).sort();
      this.runs.push(this.count - this.sorted);
      this.sorted = this.count;
    }
    for (let n = this.runs.length; n > 1; n = this.runs.length) {
      const newer = this.runs[n - 1] as number;
      const older = this.runs[n - 2] as number;
      if (!all && newer < older) return;
      this.merge(this.sorted - newer - older, older, newer);
      this.runs.splice(n - 2, 2, older + newer);
    }
  }

  /** Merges the sorted runs values[start, +older) and values[start + older, +newer) in place. */
  private merge(start: number, older: number, newer: number): void {
    if (this.scratch.length < newer) this.scratch = new Float64Array(newer);
    const values = this.values;
    const right = this.scratch;
    right.set(values.subarray(start + older, start + older + newer));
    // From the end backwards: the newer run is in scratch, so nothing is overwritten before it is read.
    let i = start + older - 1;
    let j = newer - 1;
    let k = start + older + newer - 1;
    while (j >= 0) {
      if (i >= start && (values[i] as number) > (right[j] as number)) values[k--] = values[i--] as number;
      else values[k--] = right[j--] as number;
    }
  }
}
