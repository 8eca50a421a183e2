import { invalid } from '../protocol/errors.js';

/** Where a newest-first list continues: after the row with this (create time, id). */
export interface PageCursor {
  createTime: string;
  id: string;
}

/** Page tokens are opaque to clients: the cursor of the last row of the page, base64url JSON. */
export function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify([cursor.createTime, cursor.id])).toString('base64url');
}

export function decodePageToken(token: string): PageCursor {
  try {
    const [createTime, id] = JSON.parse(Buffer.from(token, 'base64url').toString()) as unknown[];
    if (typeof createTime === 'string' && typeof id === 'string') return { createTime, id };
  } catch {
    // reported below
  }
  throw invalid('pageToken: not a page token issued by this server');
}

/**
 * One page of a list read with one row more than asked, so a next page is only announced when
 * there is one.
 */
export function toPage<T extends PageCursor>(
  rows: T[],
  size: number,
): { items: T[]; nextPageToken?: string } {
  const items = rows.slice(0, size);
  const last = items.at(-1);
  return rows.length > size && last
    ? { items, nextPageToken: encodePageToken({ createTime: last.createTime, id: last.id }) }
    : { items };
}
