/**
 * A parsed `metadata_filter` as an SQL condition on a document, the same text on SQLite and
 * PostgreSQL. Keys and values are always bound parameters; the only SQL words that vary come
 * from the closed table of comparators below, never from the filter's text.
 *
 * Semantics (per document, over its `customMetadata`, see search_metadata in migrations.ts):
 * - `key OP value` holds when *some* value of `key` satisfies it: a string value compares with
 *   `stringValue` and with each element of `stringListValue` (so `tag = "x"` and `tag : "x"`
 *   mean "the list contains x"), a number with `numericValue`. No type coercion: `year = "2020"`
 *   does not match a numeric 2020. Strings order byte-wise.
 * - `key != value` is `NOT (key = value)`: it also holds for documents without `key`.
 * - AND, OR and NOT are the usual boolean operators on these.
 */
import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { MetadataFilter } from './types.js';

const COMPARATORS = { '=': '=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' } as const;

/** The condition for the document whose key is `docKey` (a column reference). */
export function filterCondition(
  filter: MetadataFilter,
  docKey: Expression<unknown>,
): RawBuilder<SqlBool> {
  switch (filter.op) {
    case 'and':
    case 'or':
      return sql<SqlBool>`(${sql.join(
        filter.args.map((arg) => filterCondition(arg, docKey)),
        sql.raw(filter.op === 'and' ? ' and ' : ' or '),
      )})`;
    case 'not':
      return sql<SqlBool>`(not ${filterCondition(filter.arg, docKey)})`;
    case 'has':
      if (filter.values.length === 0) return sql<SqlBool>`(1 = 0)`;
      return hasValue(
        filter.key,
        docKey,
        sql.join(
          filter.values.map((value) => valueTest('=', value)),
          sql.raw(' or '),
        ),
      );
    case 'compare': {
      if (filter.comparator === '!=') {
        return sql<SqlBool>`(not ${hasValue(filter.key, docKey, valueTest('=', filter.value))})`;
      }
      return hasValue(filter.key, docKey, valueTest(filter.comparator, filter.value));
    }
  }
}

function valueTest(
  comparator: keyof typeof COMPARATORS,
  value: string | number,
): RawBuilder<SqlBool> {
  const op = COMPARATORS[comparator];
  if (op === undefined) throw new Error(`unknown comparator ${String(comparator)}`);
  const column = typeof value === 'number' ? sql.ref('m.numeric_value') : sql.ref('m.string_value');
  return sql<SqlBool>`${column} ${sql.raw(op)} ${value}`;
}

function hasValue(key: string, docKey: Expression<unknown>, test: RawBuilder<unknown>) {
  return sql<SqlBool>`exists (select 1 from search_metadata m where m.doc_key = ${docKey} and m.key = ${key} and (${test}))`;
}
