// Line diff by longest common subsequence: rule lists and small files, where order matters.

export interface LineChange {
  op: "+" | "-";
  line: string;
}

export function lineDiff(expected: readonly string[], found: readonly string[]): LineChange[] {
  const n = expected.length;
  const m = found.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = expected[i] === found[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: LineChange[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === found[j]) {
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push({ op: "-", line: expected[i++] }); // on a tie the old line first, as diff(1) prints a change
    } else {
      out.push({ op: "+", line: found[j++] });
    }
  }
  return out;
}
