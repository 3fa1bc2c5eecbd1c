// How activities fail, against the real PostgreSQL: a value it refuses for
// good ends the run once; a race it reports is left to Temporal's retries.
import { ApplicationFailure } from '@temporalio/common';
import { asFailure } from '../../src/activities/failures';
import { createScratchDb, type ScratchDb } from '../../support/stack';

let t: ScratchDb;
beforeAll(async () => {
  t = await createScratchDb(2);
});
afterAll(async () => {
  await t?.drop();
});

async function refusal(sql: string): Promise<unknown> {
  return t.db.query(sql).then(
    () => {
      throw new Error(`${sql} was accepted`);
    },
    (err: unknown) => err,
  );
}

test("a value PostgreSQL cannot hold (SQLSTATE class 22 or 23) is a final failure naming storage.unrepresentable and PostgreSQL's reason", async () => {
  for (const [sql, state] of [
    [`select '0000-01-01T00:00:00Z'::timestamptz`, '22008'],
    [`select '2026-01-01T00:00:00+20:00'::timestamptz`, '22009'],
    [`select convert_from('\\x00'::bytea, 'UTF8')`, '22021'],
  ] as const) {
    const f = asFailure(await refusal(sql));
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f).toMatchObject({ type: 'BundleFormatError', nonRetryable: true, details: [{ rule: 'storage.unrepresentable', section: 'bundle' }] });
    expect((f as Error).message).toMatch(new RegExp(`^bundle: PostgreSQL cannot store a value of this push \\(SQLSTATE ${state}: .+\\) \\[rule storage\\.unrepresentable\\]$`));
  }
});

test('a unique or foreign-key violation (what two runs at once produce) and a connection error stay retryable', async () => {
  await t.db.query(`create table once (k int primary key, r int references once (k))`);
  await t.db.query(`insert into once values (1, null)`);
  for (const sql of [`insert into once values (1, null)`, `insert into once values (2, 9)`]) {
    const err = await refusal(sql);
    expect(asFailure(err)).toBe(err);
  }
  const refused = new Error('connect ECONNREFUSED 127.0.0.1:1');
  expect(asFailure(refused)).toBe(refused);
});
