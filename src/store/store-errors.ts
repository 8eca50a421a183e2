import Database from 'better-sqlite3';
import pg from 'pg';
import { ApiError } from '../protocol/errors.js';

/**
 * What a failed store operation means for its caller, decided by the drivers' error codes
 * (PostgreSQL SQLSTATE, SQLite extended result codes), never by message text:
 * - `unavailable`: the store as a whole did not take the write (connection lost or refused,
 *   database locked, disk full, server shutting down); retrying later may succeed, and every
 *   interaction is affected alike.
 * - `duplicate`: a row with the same key exists (an event id another writer already used).
 * - `missing_interaction`: the interaction a row refers to is gone (deleted concurrently).
 * - `rejected`: the store refused these rows for another reason; retrying will not help.
 */
export type StoreFault = 'unavailable' | 'duplicate' | 'missing_interaction' | 'rejected';

/** The store cannot be reached; answered as 503 with Retry-After (nothing was created). */
export class StoreUnavailableError extends ApiError {
  constructor(cause: unknown) {
    super('unavailable', 'the store is unavailable; retry shortly', { retryAfter: 1, cause });
  }
}

// SQLSTATE classes of a store-wide, transient condition: 08 connection exception, 40 transaction
// rollback (serialization failure, deadlock), 53 insufficient resources, 57 operator
// intervention (shutdown, statement timeout), 58 system error; 25006 is a read-only standby
// (the state during a failover).
const PG_UNAVAILABLE_CLASSES = new Set(['08', '40', '53', '57', '58']);

// SQLite primary result codes (the part of the extended code before the second underscore)
// of a store-wide condition: locked by another connection, I/O, full, cannot open, read-only.
const SQLITE_UNAVAILABLE = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL',
  'SQLITE_READONLY',
  'SQLITE_NOMEM',
  'SQLITE_INTERRUPT',
]);

export function classifyStoreError(err: unknown): StoreFault {
  if (err instanceof StoreUnavailableError) return 'unavailable';
  if (err instanceof pg.DatabaseError) {
    const state = err.code ?? '';
    if (state === '23505') return 'duplicate';
    if (state === '23503') return 'missing_interaction';
    if (state === '25006' || PG_UNAVAILABLE_CLASSES.has(state.slice(0, 2))) return 'unavailable';
    return 'rejected';
  }
  if (err instanceof Database.SqliteError) {
    const code = err.code;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE')
      return 'duplicate';
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'missing_interaction';
    const primary = code.split('_').slice(0, 2).join('_');
    return SQLITE_UNAVAILABLE.has(primary) ? 'unavailable' : 'rejected';
  }
  // Not an error the database server or engine reported: the driver could not talk to it
  // (socket errors such as ECONNRESET, pg's "Connection terminated", a pool timeout, a closed
  // handle). Nothing about the rows is known, so it counts as the store being unavailable.
  return 'unavailable';
}

/** Store-wide failures become `StoreUnavailableError`; anything else is passed on unchanged. */
export function toStoreError(err: unknown): unknown {
  return classifyStoreError(err) === 'unavailable' && !(err instanceof StoreUnavailableError)
    ? new StoreUnavailableError(err)
    : err;
}
