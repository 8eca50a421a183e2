import { invalid } from '../../protocol/errors.js';

export type Query = Record<string, string | string[] | undefined>;

/** A query parameter given at most once. */
export function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalid(`${name}: given more than once`);
  return value;
}

/** `pageSize` and `pageToken` of a list request; a pageSize of 0 means unset (proto3). */
export function pageParams(query: Query): { pageSize?: number; pageToken?: string } {
  const sizeText = single(query, 'pageSize');
  if (sizeText !== undefined && !/^\d{1,9}$/.test(sizeText))
    throw invalid(`pageSize: expected a non-negative integer, got '${sizeText.slice(0, 40)}'`);
  const pageSize = sizeText === undefined || Number(sizeText) === 0 ? undefined : Number(sizeText);
  const pageToken = single(query, 'pageToken') || undefined;
  return { pageSize, pageToken };
}

/** A boolean query parameter (`force=true`); absent is false. */
export function flag(query: Query, name: string): boolean {
  const value = single(query, name);
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw invalid(`${name}: expected true or false, got '${value.slice(0, 40)}'`);
}
