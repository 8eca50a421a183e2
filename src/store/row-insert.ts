import { CompiledQuery, type Kysely } from 'kysely';
import type { DatabaseKind, DatabaseSchema } from './database.js';

/** Rows per statement: far below both engines' parameter limits (32,766 and 65,535). */
export const ROWS_PER_INSERT = 300;

/** The `n`th parameter (from 1) of a statement: `?` on SQLite, `$n` on PostgreSQL. */
export const parameter = (kind: DatabaseKind, n: number): string =>
  kind === 'postgres' ? `$${n}` : '?';

/**
 * `(?, ?, ?), (?, ?, ?)` (SQLite) or `($1, $2, $3), ($4, $5, $6)` (PostgreSQL): the VALUES list of
 * `rows` rows of `columns` parameters (on PostgreSQL numbered after the first `offset`).
 */
export function valuesList(kind: DatabaseKind, rows: number, columns: number, offset = 0): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    const params: string[] = [];
    for (let c = 1; c <= columns; c++) params.push(parameter(kind, offset + r * columns + c));
    tuples.push(`(${params.join(', ')})`);
  }
  return tuples.join(', ');
}

/**
 * A multi-row INSERT of a fixed column list whose SQL text is built once per row count.
 *
 * Written by hand rather than with Kysely's `insertInto().values()`: the builder makes, freezes
 * and compiles an operation tree of every value on every call — for one group commit of a dozen
 * stored creates, some 80 event rows and a dozen interaction rows of 17 columns — which cost
 * about as much CPU as SQLite took to write them. The SQL executed is the same; Kysely still
 * runs it (its connection, transaction and query log).
 */
export class RowInsert<Row extends object> {
  private readonly texts = new Map<number | string, string>();

  constructor(
    private readonly kind: DatabaseKind,
    private readonly table: string,
    private readonly columns: readonly (keyof Row & string)[],
  ) {}

  async run(db: Kysely<DatabaseSchema>, rows: readonly Row[]): Promise<void> {
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const part = rows.slice(i, i + ROWS_PER_INSERT);
      await db.executeQuery(CompiledQuery.raw(this.sql(part.length), this.parameters(part)));
    }
  }

  /** The statement for `rows` rows (at most ROWS_PER_INSERT), its parameters after `offset`. */
  sql(rows: number, offset = 0): string {
    const key = offset === 0 ? rows : `${rows}:${offset}`;
    let text = this.texts.get(key);
    if (text === undefined) {
      const columns = this.columns.map((c) => `"${c}"`).join(', ');
      text = `insert into "${this.table}" (${columns}) values ${valuesList(this.kind, rows, this.columns.length, offset)}`;
      // offsets vary with what precedes: only the plain statements are worth keeping
      if (offset === 0) this.texts.set(key, text);
    }
    return text;
  }

  /** The parameters of `rows`, row by row in column order. */
  parameters(rows: readonly Row[]): unknown[] {
    const parameters: unknown[] = [];
    for (const row of rows) for (const column of this.columns) parameters.push(row[column]);
    return parameters;
  }
}
