// What one worker process keeps of the last bundle it planned, so that the
// steps after the plan, when they run on the same worker, skip work:
//
// - its bytes (at most PLAN_CACHE_MAX_BUNDLE_BYTES): chunk activities slice
//   them instead of a ranged GET each. The key is a content address, so the
//   bytes are those any GET would return.
//
// One bundle; a new plan replaces the last. Memory, not correctness: a
// step that finds nothing here reads the bundle from the object store.

export class PlanCache {
  private bytes: { bundleKey: string; bytes: Buffer } | undefined;

  constructor(private readonly maxBundleBytes: number) {}

  /** The bytes of `bundleKey`, when this process holds them. */
  bytesOf(bundleKey: string): Buffer | undefined {
    return this.bytes?.bundleKey === bundleKey ? this.bytes.bytes : undefined;
  }

  /**
   * A buffer to copy a bundle of `size` bytes into as it is read, when it is
   * within the bound; the bytes held for another bundle are dropped first, so
   * two bundles are never held at once.
   */
  reserve(bundleKey: string, size: number): Buffer | undefined {
    if (size > this.maxBundleBytes || this.bytesOf(bundleKey)) return undefined;
    this.bytes = undefined;
    return Buffer.allocUnsafe(size);
  }

  /** Keeps a reserved buffer once all of it was filled: a short read is never kept. */
  keepBytes(bundleKey: string, buffer: Buffer, filled: number): void {
    if (filled === buffer.length) this.bytes = { bundleKey, bytes: buffer };
  }
}
