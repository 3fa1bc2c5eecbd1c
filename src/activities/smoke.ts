import { randomUUID } from 'node:crypto';
import type { Deps } from './deps';

export function smokeActivities({ db, store }: Deps) {
  return {
    /** One SQL round trip on the migrated schema and one S3 put/get/delete. */
    async smokeCheck(): Promise<{ migrations: number; s3RoundTrip: boolean }> {
      const { rows } = await db.query<{ n: number }>('select count(*)::int as n from musehub_schema_migrations');
      const key = `smoke/${randomUUID()}`;
      const body = Buffer.from(`smoke ${key}`);
      await store.put(key, body);
      const back = await store.get(key);
      await store.delete(key);
      return { migrations: rows[0]!.n, s3RoundTrip: !!back && back.equals(body) };
    },
  };
}
