import type { SelectQueryBuilder } from 'kysely';

/** Where a list continues: after this row in (create_time, id) descending order. */
export interface ListCursor {
  createTime: string;
  id: string;
}

/** The columns a newest-first list pages by. */
interface Paged {
  create_time: string;
  id: string;
}

/**
 * One page of a newest-first list (files, File Search stores, documents): `(create_time, id)`
 * descending, rows after `cursor`, at most `limit`. The query's table must have both columns;
 * Kysely cannot say "any table with these columns" generically, hence the casts.
 */
export function newestFirstPage<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  limit: number,
  cursor?: ListCursor,
): SelectQueryBuilder<DB, TB, O> {
  let paged = query as unknown as SelectQueryBuilder<{ paged: Paged }, 'paged', O>;
  if (cursor) {
    paged = paged.where((eb) =>
      eb.or([
        eb('create_time', '<', cursor.createTime),
        eb.and([eb('create_time', '=', cursor.createTime), eb('id', '<', cursor.id)]),
      ]),
    );
  }
  return paged
    .orderBy('create_time', 'desc')
    .orderBy('id', 'desc')
    .limit(limit) as unknown as SelectQueryBuilder<DB, TB, O>;
}
