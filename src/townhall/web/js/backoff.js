// Retry delays for everything the client reconnects (the WebSocket, the media
// connection): exponential backoff with jitter, so that many browsers dropped at once
// (a server restart) do not come back in lockstep. The server's own is domain/backoff.py.

export class Backoff {
  /**
   * @param {{ initialMs?: number, maximumMs?: number, random?: () => number }} [options]
   *   `random` in [0, 1] (tests pass a constant)
   */
  constructor({ initialMs = 250, maximumMs = 8000, random = Math.random } = {}) {
    this.initialMs = initialMs;
    this.maximumMs = maximumMs;
    this.random = random;
    this.failures = 0;
  }

  /**
   * The delay before the next attempt, in ms: drawn from [ceiling / 2, ceiling], the
   * ceiling doubling from `initialMs` with each failure in a row, up to `maximumMs`.
   * @returns {number}
   */
  next() {
    const ceiling = Math.min(this.maximumMs, this.initialMs * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, 30);
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }

  /** A success: the next failure starts from `initialMs` again. */
  reset() {
    this.failures = 0;
  }
}
