import { PlanCache } from '../../src/activities/plan-cache';

describe('PlanCache', () => {
  test('keeps the bytes of one bundle, only when it was read in full and within the bound', () => {
    const cache = new PlanCache(10);
    expect(cache.reserve('big', 11)).toBeUndefined();
    const a = cache.reserve('a', 4)!;
    a.set([1, 2, 3, 4]);
    cache.keepBytes('a', a, 4);
    expect(cache.bytesOf('a')).toEqual(Buffer.from([1, 2, 3, 4]));
    // A re-plan of the same bundle keeps what is held (nothing to reserve).
    expect(cache.reserve('a', 4)).toBeUndefined();
    expect(cache.bytesOf('a')).toBeDefined();
    // Another bundle's reservation drops the held bytes first; a short read is never kept.
    const b = cache.reserve('b', 4)!;
    expect(cache.bytesOf('a')).toBeUndefined();
    cache.keepBytes('b', b, 3);
    expect(cache.bytesOf('b')).toBeUndefined();
  });
});
