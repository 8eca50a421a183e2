/**
 * The names and URIs of files. Google's `File.uri` is `https://generativelanguage.googleapis.com/
 * v1beta/files/{id}`; ours is the same path on this server's own address. Content items may
 * name a file by that URI (as the docs show) or by its `files/{id}` name.
 */

export const fileName = (id: string) => `files/${id}`;

/** The absolute URI of a file, on the address and API version the client used. */
export const fileUri = (origin: string, version: string, id: string) =>
  `${origin}/${version}/files/${id}`;

const SHORT = /^files\/(.+)$/;
const PATH = /\/(?:v1|v1beta)\/files\/([^/]+)$/;

/**
 * The file id a content `uri` names, or undefined when it is not a Files API URI. Any host is
 * accepted: the path is what makes a URI ours (behind a proxy the host a client saw is unknown),
 * and a Files URI of another server could not be fetched without its key anyway.
 */
export function fileIdFromUri(uri: string): string | undefined {
  const short = SHORT.exec(uri);
  if (short) return short[1];
  if (!/^https?:\/\//i.test(uri)) return undefined;
  try {
    return PATH.exec(new URL(uri).pathname)?.[1];
  } catch {
    return undefined;
  }
}
