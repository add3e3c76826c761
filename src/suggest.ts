/** "Did you mean": the closest known name to a mistyped one, if it is close enough to be a typo. */

/** Levenshtein distance (small strings: flags, method names). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The known name closest to `typed` (1 edit for names up to 3 characters, else 2 or a third of its length; a prefix counts too). */
export function closest(typed: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(typed) && typed.length >= 3 ? 0.5 : editDistance(typed, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= (typed.length <= 3 ? 1 : Math.max(2, Math.floor(typed.length / 3))) ? best : undefined;
}
