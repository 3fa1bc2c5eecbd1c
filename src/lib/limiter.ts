/**
 * A counting semaphore. One is shared by every activity of a worker process,
 * so "at most N object PUTs in flight" holds per process however many chunk
 * activities run at once.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`limit must be at least 1, got ${limit}`);
  }

  get inFlight(): number {
    return this.active;
  }

  /** Waits for a slot; every acquire must be paired with one release. */
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}
