// checkDatabase: what `hive start --database <url>` verifies before it says the node started. A configuration
// the node can never work with (no such database, a role that cannot log in or lacks rights, no pgvector on
// the server) is an INVALID_CONFIG error whose one-line message names the fix; a server that does not answer
// is only unreachable: the node starts degraded and memory connects once it answers.
import pg from 'pg';
import { ConfigError } from '../protocols/errors.js';

/** What the check found: usable, or not answering now (the node starts degraded). */
export type DatabaseCheck = { state: 'ready' } | { state: 'unreachable'; reason: string };

/** Network failures that say the server is not there (now), not that the configuration is wrong. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE']);
/** PostgreSQL codes for a server that is starting or shutting down (retry later, do not refuse to start). */
const TRANSIENT = new Set(['57P01', '57P02', '57P03', '53300']);

function where(url: URL): string {
  return `${url.hostname}:${url.port || '5432'}`;
}

function fail(message: string, code: string | undefined): never {
  throw new ConfigError(message, { details: { option: 'database', ...(code !== undefined && { sqlstate: code }) } });
}

const ALSO = 'or pass another --database (HIVE_DATABASE_URL), or none for the embedded PGlite';

/**
 * Connects to `url` and checks, inside a transaction that is rolled back, that the role can create the
 * `vector` extension (or it is there), schema `schema` and a table in it. Throws `INVALID_CONFIG` naming the
 * fix; resolves `unreachable` when the server does not answer within `timeoutMs`.
 */
export async function checkDatabase(url: string, schema: string, timeoutMs = 5000): Promise<DatabaseCheck> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    fail(`--database is not a URL (postgres://user@host:port/database)`, undefined);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  const user = decodeURIComponent(u.username) || process.env['PGUSER'] || 'the default role';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    try {
      await client.connect();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === '3D000') fail(`database "${database}" does not exist on ${where(u)}: create it (createdb -h ${u.hostname} -p ${u.port || '5432'} ${database}) ${ALSO}`, e.code);
      if (e.code === '28000' || e.code === '28P01') fail(`role "${user}" cannot log in to ${where(u)}: ${e.message ?? ''}; fix the user or password in the URL ${ALSO}`, e.code);
      if (e.code === '42501') fail(`role "${user}" may not connect to database "${database}": grant it CONNECT ${ALSO}`, e.code);
      if ((e.code !== undefined && (UNREACHABLE.has(e.code) || TRANSIENT.has(e.code))) || /timeout|terminated/i.test(e.message ?? '')) return { state: 'unreachable', reason: e.message || e.code || 'no answer' };
      fail(`cannot use database "${database}" on ${where(u)}: ${e.message ?? String(err)} ${ALSO}`, e.code);
    }
    const found = await client.query<{ installed: boolean; available: boolean }>(
      "select exists(select 1 from pg_extension where extname = 'vector') as installed, exists(select 1 from pg_available_extensions where name = 'vector') as available",
    );
    const row = found.rows[0];
    if (row?.installed !== true && row?.available !== true) {
      fail(`pgvector missing: PostgreSQL at ${where(u)} has no "vector" extension; install pgvector on that server (Debian: apt install postgresql-<version>-pgvector; .ci/services.sh builds it) ${ALSO}`, undefined);
    }
    await client.query('BEGIN');
    try {
      for (const sql of [
        'CREATE EXTENSION IF NOT EXISTS vector',
        `CREATE SCHEMA IF NOT EXISTS "${schema.replace(/"/g, '""')}"`,
        `CREATE TABLE "${schema.replace(/"/g, '""')}"."hive_rights_check_${process.pid}" (x int)`,
      ]) {
        try {
          await client.query(sql);
        } catch (err) {
          const e = err as { code?: string; message?: string };
          if (e.code === '42501') {
            const what = sql.startsWith('CREATE EXTENSION') ? `create the "vector" extension (as a superuser run: CREATE EXTENSION vector; in database "${database}")` : `create schema "${schema}" and its tables (GRANT CREATE ON DATABASE "${database}" TO "${user}")`;
            fail(`role "${user}" lacks the rights to ${what} ${ALSO}`, e.code);
          }
          throw err;
        }
      }
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
    return { state: 'ready' };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as { code?: string; message?: string };
    if (e.code !== undefined && (UNREACHABLE.has(e.code) || TRANSIENT.has(e.code))) return { state: 'unreachable', reason: e.message || e.code };
    fail(`cannot use database "${database}" on ${where(u)}: ${e.message ?? String(err)} ${ALSO}`, e.code);
  } finally {
    await client.end().catch(() => undefined);
  }
}
