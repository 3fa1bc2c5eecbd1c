// Fair limits per client and the audit line (issue 26, item 5), over real
// HTTP against PostgreSQL and SeaweedFS with HUB_AUTH=required: a client is
// its token, or its address without one. Writes in flight past
// HUB_WRITES_IN_FLIGHT and requests past HUB_RATE_LIMIT_REQUESTS are refused
// 429 with Retry-After before anything is written; every write, allowed or
// refused, is one audit line naming the token's id (never its secret).
import { addressOf } from '../../src/address';
import { createRepo } from '../../src/db/repos';
import { createToken } from '../../src/hub/tokens';
import { uniqueName } from '../../support/stack';
import { call, objectRows, repoRows, useHubs } from '../hub/helpers';

const hubs = useHubs();

/** What a hub in this process writes to stderr while `fn` runs: its audit lines, parsed. */
async function auditOf<T>(fn: () => Promise<T>): Promise<{ result: T; lines: Array<Record<string, unknown>>; text: string }> {
  const written: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const result = await fn();
    // The last answers' audit lines are written as their responses end.
    await new Promise((r) => setTimeout(r, 100));
    const text = written.join('');
    const lines = text
      .split('\n')
      .filter((l) => l.includes('"message":"audit"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { result, lines, text };
  } finally {
    spy.mockRestore();
  }
}

function pushOf(i: number) {
  const content = Buffer.from(`limits push ${i}`);
  const id = addressOf(content);
  return {
    id,
    body: {
      commits: [{ commit_id: `c-${i}`, snapshot_id: `s-${i}`, committed_at: '2026-12-07T10:00:00Z' }],
      snapshots: [{ snapshot_id: `s-${i}`, manifest: { [`take-${i}.mid`]: id } }],
      objects: [{ object_id: id, content }],
      branch: `b${i}`,
      head: `c-${i}`,
    },
  };
}

test('50 concurrent pushes from one token past its writes in flight: some 429 WritesInFlight with Retry-After and nothing of theirs written, the rest complete; each an audit line with the token id, never its secret', async () => {
  const h = await hubs.hub({ HUB_AUTH: 'required', HUB_WRITES_IN_FLIGHT: '4', HUB_AUDIT_LOG: 'on', LOG_FORMAT: 'json' });
  const db = hubs.world().t.db;
  const repoId = uniqueName('lim');
  await createRepo(db, repoId);
  const writer = await createToken(db, { repos: [repoId], scope: 'write' });
  const other = await createToken(db, { repos: [repoId], scope: 'write' });
  const pushes = Array.from({ length: 50 }, (_, i) => pushOf(i));

  const { result: answers, lines, text } = await auditOf(() => Promise.all(pushes.map((p) => call(h.url, 'POST', `/repos/${repoId}/push`, p.body, { token: writer.token }))));
  const refused = answers.flatMap((a, i) => (a.status === 429 ? [i] : []));
  const accepted = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
  expect(refused.length + accepted.length).toBe(50);
  expect(refused.length).toBeGreaterThan(0);
  expect(accepted.length).toBeGreaterThanOrEqual(4);
  for (const i of refused) {
    expect(answers[i]).toMatchObject({ retryAfter: '1', body: { code: 'WritesInFlight', error: expect.stringContaining('HUB_WRITES_IN_FLIGHT'), retry_after_seconds: 1 } });
  }
  // Nothing half-written: a refused push left no branch, commit, snapshot or object; an accepted one is whole.
  const rows = await repoRows(hubs.world(), repoId);
  expect(rows.branches.map((b) => b.name).sort()).toEqual(accepted.map((i) => `b${i}`).sort());
  expect(rows.commits.length).toBe(accepted.length);
  expect(
    (
      await objectRows(
        hubs.world(),
        refused.map((i) => pushes[i]!.id),
      )
    ).length,
  ).toBe(0);
  expect(
    (
      await objectRows(
        hubs.world(),
        accepted.map((i) => pushes[i]!.id),
      )
    ).length,
  ).toBe(accepted.length);

  // One audit line per push, with the token's id and the result; no secret anywhere in what the hub wrote.
  const pushLines = lines.filter((l) => l.action === 'POST /repos/:repo/push');
  expect(pushLines.length).toBe(50);
  expect(new Set(pushLines.map((l) => l.token_id))).toEqual(new Set([writer.id]));
  expect(pushLines.filter((l) => l.status === 429 && l.code === 'WritesInFlight').length).toBe(refused.length);
  expect(pushLines.filter((l) => l.status === 200 && l.code === null).length).toBe(accepted.length);
  expect(pushLines[0]).toMatchObject({ event: 'audit', level: 'info', repo_id: repoId, address: expect.stringMatching(/127\.0\.0\.1/) });
  expect(text).not.toContain(writer.token);

  // Another client is not held back by this one, and the refused pushes go through when sent again (as Retry-After says).
  const again = await auditOf(async () => {
    expect((await call(h.url, 'POST', `/repos/${repoId}/push`, pushOf(1000).body, { token: other.token })).status).toBe(200);
    for (const i of refused) expect((await call(h.url, 'POST', `/repos/${repoId}/push`, pushes[i]!.body, { token: writer.token })).status).toBe(200);
  });
  expect(again.lines.map((l) => l.token_id)).toEqual([other.id, ...refused.map(() => writer.id)]);
  expect((await repoRows(hubs.world(), repoId)).branches.length).toBe(51);
});

test('requests past HUB_RATE_LIMIT_REQUESTS in the window: 429 RateLimited with Retry-After, per token, and per address without one; /healthz is not counted', async () => {
  const h = await hubs.hub({ HUB_AUTH: 'required', HUB_RATE_LIMIT_REQUESTS: '5', HUB_RATE_LIMIT_WINDOW_MS: '60000' });
  const db = hubs.world().t.db;
  const repoId = uniqueName('rate');
  await createRepo(db, repoId, repoId, 'main', true);
  const a = await createToken(db, { repos: [repoId], scope: 'read' });
  const b = await createToken(db, { repos: [repoId], scope: 'read' });
  const branches = (token?: string) => call(h.url, 'GET', `/repos/${repoId}/branches`, undefined, token ? { token } : {});

  for (let i = 0; i < 5; i++) expect((await branches(a.token)).status).toBe(200);
  const over = await branches(a.token);
  expect(over).toMatchObject({ status: 429, body: { code: 'RateLimited', error: expect.stringContaining('HUB_RATE_LIMIT_REQUESTS') } });
  expect(Number(over.retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(over.retryAfter)).toBeLessThanOrEqual(60);
  // Another token has a window of its own; so has the address, for requests without one (a public repository).
  for (let i = 0; i < 5; i++) expect((await branches(b.token)).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await branches()).status).toBe(200);
  expect((await branches()).body).toMatchObject({ code: 'RateLimited' });
  for (let i = 0; i < 10; i++) expect((await call(h.url, 'GET', '/healthz')).status).toBe(200);
});
