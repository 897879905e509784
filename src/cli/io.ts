/** Where a command prints: stdout for results, stderr for progress and errors. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}
