// A few at a time: the one way the request paths, garbage collection and the
// scrub run I/O over a list (PUTs, reads) with a bound on what is in flight.

/**
 * Calls `fn` on every item, at most `lanes` at once, starting them in order.
 * The first failure rejects (the other lanes finish the item they hold).
 */
export async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
}
