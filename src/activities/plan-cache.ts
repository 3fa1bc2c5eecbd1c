// What one worker process keeps of the last bundle it planned, so that the
// steps after the plan, when they run on the same worker, skip work:
//
// - its bytes (at most PLAN_CACHE_MAX_BUNDLE_BYTES): chunk activities slice
//   them instead of a ranged GET each. The key is a content address, so the
//   bytes are those any GET would return.
//
// - with them, the objects the plan decoded from zstd (within what the bound
//   leaves beside the bundle): chunks PUT those instead of inflating them a
//   second time. The plan checked each one; a key is the object's address.
//
// One bundle; a new plan replaces the last. Memory, not correctness: a
// step that finds nothing here reads the bundle from the object store.

export class PlanCache {
  private bytes: { bundleKey: string; bytes: Buffer } | undefined;
  private decoded: { bundleKey: string; raws: ReadonlyMap<string, Buffer> } | undefined;

  constructor(private readonly maxBundleBytes: number) {}

  /** The bytes of `bundleKey`, when this process holds them. */
  bytesOf(bundleKey: string): Buffer | undefined {
    return this.bytes?.bundleKey === bundleKey ? this.bytes.bytes : undefined;
  }

  /** The objects of `bundleKey` its plan decoded, by id, when this process holds the bundle. */
  decodedOf(bundleKey: string): ReadonlyMap<string, Buffer> | undefined {
    return this.bytesOf(bundleKey) && this.decoded?.bundleKey === bundleKey ? this.decoded.raws : undefined;
  }

  /** Bytes of decoded objects a plan may keep beside a bundle of `size` bytes: what the bound leaves. */
  decodedBudget(size: number): number {
    return Math.max(0, this.maxBundleBytes - size);
  }

  /** Keeps the objects the plan of `bundleKey` decoded, once the bundle itself is kept. */
  keepDecoded(bundleKey: string, raws: ReadonlyMap<string, Buffer>): void {
    if (this.bytesOf(bundleKey) && raws.size > 0) this.decoded = { bundleKey, raws };
  }

  /**
   * A buffer to copy a bundle of `size` bytes into as it is read, when it is
   * within the bound; the bytes held for another bundle are dropped first,
   * whether this one is kept or not, so two bundles are never held at once
   * and a worker planning a bundle over the bound holds none.
   */
  reserve(bundleKey: string, size: number): Buffer | undefined {
    if (this.bytesOf(bundleKey)) return undefined;
    // Whether or not this one is kept, the last one is not needed any more: a worker holds at most the bundle it plans now.
    this.bytes = undefined;
    this.decoded = undefined;
    return size > this.maxBundleBytes ? undefined : Buffer.allocUnsafe(size);
  }

  /** Keeps a reserved buffer once all of it was filled: a short read is never kept. */
  keepBytes(bundleKey: string, buffer: Buffer, filled: number): void {
    if (filled === buffer.length) this.bytes = { bundleKey, bytes: buffer };
  }
}
