// Request bodies under the bundle layer's rules for hostile input: here, that
// nesting counts from an extra key's value as it does in a bundle
// (bundle-format.md, Text and time). Pure: no server.
import { DEFAULT_LIMITS } from '../../src/bundle';
import { validateMetadata } from '../../src/bundle/validate';
import { decodeJsonBody, decodeMsgpackBody, encodeMsgpack } from '../../src/http/body';

describe('request bodies count nesting as bundles do (src/http/body.ts)', () => {
  function nested(levels: number): unknown {
    let v: unknown = 'bottom';
    for (let i = 0; i < levels; i++) v = i % 2 === 0 ? { k: v } : [v];
    return v;
  }
  const body = (levels: number) => ({ commits: [{ commit_id: 'c1', snapshot_id: null, committed_at: '2026-03-01T12:00:00Z', structured_delta: nested(levels) }] });
  const max = DEFAULT_LIMITS.maxNesting;

  test("JSON: a commit's extra key at the bound is read, one past it refused", () => {
    expect(decodeJsonBody(Buffer.from(JSON.stringify(body(30))), max)).toEqual(body(30));
    expect(decodeJsonBody(Buffer.from(JSON.stringify(body(max))), max)).toEqual(body(max));
    expect(() => decodeJsonBody(Buffer.from(JSON.stringify(body(max + 1))), max)).toThrow("malformed JSON body: containers nest deeper than 32 levels below an entry's key (BUNDLE_MAX_NESTING)");
  });

  test('msgpack: the same', () => {
    expect(decodeMsgpackBody(encodeMsgpack(body(30)), max)).toEqual(body(30));
    expect(decodeMsgpackBody(encodeMsgpack(body(max)), max)).toEqual(body(max));
    expect(() => decodeMsgpackBody(encodeMsgpack(body(max + 1)), max)).toThrow(/^malformed msgpack body at byte \d+: containers nest deeper than 32 levels below an entry's key \(BUNDLE_MAX_NESTING\)$/);
  });

  test('what a body carries passes the commit rules whole', () => {
    const decoded = decodeJsonBody(Buffer.from(JSON.stringify(body(max))), max) as { commits: unknown[] };
    expect(validateMetadata({ version: 1, commits: decoded.commits }, DEFAULT_LIMITS).commits[0]!.extra.structured_delta).toEqual(nested(max));
  });
});
