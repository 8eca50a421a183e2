import { statSync } from 'node:fs';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, sqliteFilePath, type DatabaseHandle } from '../../src/store/database.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

/**
 * The server's SQLite connection leaves WAL checkpoints to a worker thread
 * (src/store/wal-checkpointer.ts). What shows it from outside: pages written through the server's
 * connection reach the database file while that connection stays open and far below its own
 * (backstop) automatic checkpoint; without the worker they stay in the WAL until it closes.
 */
describe('WAL checkpoints on a worker thread (sqlite)', () => {
  let db: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  afterEach(async () => {
    await handle?.db.destroy();
    await db?.drop();
  });

  async function writePages(h: DatabaseHandle, rows: number): Promise<void> {
    await sql`create table filler (id integer primary key, body text not null)`.execute(h.db);
    const body = 'x'.repeat(2000);
    for (let i = 0; i < rows; i++)
      await sql`insert into filler (body) values (${body})`.execute(h.db);
  }

  const fileSize = (url: string) => statSync(sqliteFilePath(url)!).size;

  async function eventually(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`never happened: ${what}`);
  }

  it('copies committed pages into the database file while the connection stays open', async () => {
    db = await createTestDatabase('sqlite');
    handle = openDatabase(db.url, { checkpointInBackground: true });
    const before = fileSize(db.url);
    await writePages(handle, 1000); // ~1,000 pages: a tenth of the backstop
    await eventually(() => fileSize(db!.url) >= before + 1000 * 2000, 'the pages in the file');
    const [row] = (
      await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(handle.db)
    ).rows;
    expect(row!.wal_autocheckpoint).toBe(10_000);
  }, 60_000);

  it('leaves them in the WAL without the worker (the backstop alone does not run yet)', async () => {
    db = await createTestDatabase('sqlite');
    handle = openDatabase(db.url, { checkpointInBackground: false });
    await sql`pragma wal_autocheckpoint = 10000`.execute(handle.db);
    const before = fileSize(db.url);
    await writePages(handle, 1000);
    // Nothing else checkpoints this file: its size is where it was, and the WAL holds the rows.
    expect(fileSize(db.url)).toBe(before);
    expect(statSync(`${sqliteFilePath(db.url)!}-wal`).size).toBeGreaterThan(1000 * 2000);
  }, 60_000);
});
