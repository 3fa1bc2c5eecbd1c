// Waiting in tests that drive real processes (workers on the dev server): for
// a promise, or for a probe to give a value, failing after a bound with what
// was awaited and, from `detail`, the processes' output.

/** Resolves with `p`, or fails naming what was awaited (and, from `detail`, the workers' output) after `ms`. */
export async function within<T>(ms: number, what: string, p: Promise<T>, detail: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms${detail()}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } catch (err) {
    if (err instanceof Error && !err.message.includes('worker output:')) err.message += detail();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` every 100 ms until it gives a value; fails naming what was awaited after `ms`. */
export async function waitFor<T>(ms: number, what: string, detail: () => string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
