// The plan cuts chunks as the entries stream past (OnlineCut, in
// check-as-read.ts): with cutChunks' own bounds it gives cutChunks' chunks
// whenever MAX_CHUNKS does not bind, and boundedCut's bounds keep any bundle
// within MAX_CHUNKS. Pure: entry spans only.
import fc from 'fast-check';
import { OnlineCut, boundedCut, cutChunks, type EntrySpan } from '../../src/activities/chunks';

/** Contiguous entries of the given lengths from `start`. */
function spans(start: number, lengths: number[]): EntrySpan[] {
  let at = start;
  return lengths.map((entryLength) => {
    const s = { entryOffset: at, entryLength };
    at += entryLength;
    return s;
  });
}

function online(entries: EntrySpan[], targetBytes: number, maxObjects: number) {
  const cut = new OnlineCut(targetBytes, maxObjects);
  entries.forEach((e, i) => {
    cut.entryStart(i, e.entryOffset);
    cut.entryEnd(e.entryOffset + e.entryLength, i === entries.length - 1);
  });
  return cut.chunks;
}

const arbitrary = fc.record({
  start: fc.nat(5000),
  lengths: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 300 }),
  targetBytes: fc.integer({ min: 1, max: 20_000 }),
  maxObjects: fc.integer({ min: 1, max: 50 }),
  maxChunks: fc.integer({ min: 1, max: 60 }),
  metadata: fc.nat(20_000),
});

test('cut as the entries stream, with cutChunks bounds: cutChunks chunks whenever MAX_CHUNKS does not bind', () => {
  fc.assert(
    fc.property(arbitrary, ({ start, lengths, targetBytes, maxObjects, maxChunks }) => {
      const entries = spans(start, lengths);
      const whole = cutChunks(entries, { targetBytes, maxObjects, maxChunks });
      const streamed = online(entries, targetBytes, maxObjects);
      const span = entries[entries.length - 1]!.entryOffset + entries[entries.length - 1]!.entryLength - start;
      // What the plan tests before it cuts more candidates (check-as-read.ts): the bundle's size bounds the span.
      if (Math.floor(span / targetBytes) + Math.floor(entries.length / maxObjects) + 1 <= maxChunks) expect(streamed).toEqual(whole);
      // Either way the streamed cut covers every entry once, in order, without gaps.
      expect(streamed.reduce((a, c) => a + c.count, 0)).toBe(entries.length);
      streamed.forEach((c, i) => expect(c.start).toBe(i === 0 ? start : streamed[i - 1]!.end));
    }),
    { numRuns: 300 },
  );
});

test('boundedCut: any bundle of that size and object count in at most MAX_CHUNKS chunks', () => {
  fc.assert(
    fc.property(arbitrary, ({ start, lengths, targetBytes, maxObjects, maxChunks, metadata }) => {
      const entries = spans(start, lengths);
      const bundleBytes = start + lengths.reduce((a, b) => a + b, 0) + metadata;
      const b = boundedCut(bundleBytes, entries.length, { targetBytes, maxObjects, maxChunks });
      expect(online(entries, b.targetBytes, b.maxObjects).length).toBeLessThanOrEqual(maxChunks);
    }),
    { numRuns: 300 },
  );
});
