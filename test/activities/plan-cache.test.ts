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
    // A plan of a bundle over the bound keeps none, and drops the one held before.
    const c = cache.reserve('c', 4)!;
    cache.keepBytes('c', c, 4);
    expect(cache.reserve('big', 11)).toBeUndefined();
    expect(cache.bytesOf('c')).toBeUndefined();
  });
});

describe('PlanCache: objects the plan decoded', () => {
  test('are kept with their bundle only, within what the bound leaves beside it, and go with it', () => {
    const cache = new PlanCache(10);
    expect(cache.decodedBudget(4)).toBe(6);
    expect(cache.decodedBudget(12)).toBe(0);
    const raws = new Map([['sha256:' + 'a'.repeat(64), Buffer.from('xy')]]);
    // Not before the bundle is kept: a bundle read short, or too large to keep, keeps no decoded object either.
    const a = cache.reserve('a', 4)!;
    cache.keepDecoded('a', raws);
    expect(cache.decodedOf('a')).toBeUndefined();
    cache.keepBytes('a', a, 4);
    cache.keepDecoded('a', raws);
    expect(cache.decodedOf('a')).toBe(raws);
    expect(cache.decodedOf('b')).toBeUndefined();
    // Another bundle's plan drops both.
    cache.reserve('b', 4);
    expect(cache.decodedOf('a')).toBeUndefined();
    expect(cache.bytesOf('a')).toBeUndefined();
  });
});
