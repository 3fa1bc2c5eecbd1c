import { PlanCache } from '../../src/activities/plan-cache';

describe('PlanCache', () => {
  test('keeps the bytes of one bundle, only when it was read in full and within the bound', () => {
    const cache = new PlanCache<string>(10);
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

  test('dropBytes drops only the bundle named', () => {
    const cache = new PlanCache<string>(10);
    const a = cache.reserve('a', 2)!;
    cache.keepBytes('a', a, 2);
    cache.dropBytes('b');
    expect(cache.bytesOf('a')).toBeDefined();
    cache.dropBytes('a');
    expect(cache.bytesOf('a')).toBeUndefined();
  });

  test('a plan is handed over once, to the step of the same key; another bundle\'s step makes the cache forget it', () => {
    const cache = new PlanCache<string>(10);
    cache.keepPlan('r\na', 'plan a');
    expect(cache.takePlan('r\nb')).toBeUndefined();
    expect(cache.takePlan('r\na')).toBeUndefined();
    cache.keepPlan('r\na', 'plan a');
    expect(cache.takePlan('r\na')).toBe('plan a');
    expect(cache.takePlan('r\na')).toBeUndefined();
    // A plan too large to keep replaces the last one with nothing.
    cache.keepPlan('r\na', 'plan a');
    cache.keepPlan('r\nb', undefined);
    expect(cache.takePlan('r\na')).toBeUndefined();
  });

  test('the bytes and the plan are independent: the metadata step of one bundle does not drop another\'s bytes', () => {
    const cache = new PlanCache<string>(10);
    const a = cache.reserve('a', 2)!;
    cache.keepBytes('a', a, 2);
    cache.keepPlan('r\nb', 'plan b');
    expect(cache.takePlan('r\nb')).toBe('plan b');
    cache.dropBytes('b');
    expect(cache.bytesOf('a')).toBeDefined();
  });
});
