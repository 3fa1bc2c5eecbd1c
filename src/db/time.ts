// Timestamps as PostgreSQL takes them. The spec allows UTC offsets up to
// ±23:59 (RFC 3339), PostgreSQL's timestamptz input only up to ±15:59: a
// validated timestamp is written as the same instant in UTC, which a
// timestamptz column stores exactly as it would the original.
import { timestampParts } from '../bundle/names';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The same instant, in UTC; a timestamp without an offset is returned as it is (read in the session's zone, UTC). */
export function postgresTimestamp(ts: string): string {
  const t = timestampParts(ts);
  if (!t || t.offsetMinutes === undefined || t.offsetMinutes === 0) return ts;
  const d = new Date(0);
  d.setUTCFullYear(t.year, t.month - 1, t.day);
  // Leap seconds and the offset roll over into the minute, hour, day, year as they should.
  d.setUTCHours(t.hour, t.minute - t.offsetMinutes, t.second, 0);
  const year = d.getUTCFullYear();
  // 0001-01-01T00:30+01:00 is 1 BC in UTC: PostgreSQL writes it with "BC", not as year 0000.
  const bc = year <= 0;
  return `${pad(bc ? 1 - year : year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${t.fraction}+00:00${bc ? ' BC' : ''}`;
}
