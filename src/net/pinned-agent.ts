import type { LookupAddress, LookupOptions } from 'node:dns';
import tls from 'node:tls';
import { Agent } from 'undici';
import { bareHost, type ResolvedAddress } from './address-policy.js';

/**
 * An undici Agent that connects only to addresses checked beforehand: its DNS lookup answers from
 * `pinned` (host, lower case and without brackets → the checked addresses), never from DNS, so
 * a second DNS answer cannot point a checked name somewhere else (rebinding). A host nobody
 * checked gets ENOTFOUND. Shared by the outbound requests tenants choose the URL of: url_context
 * fetches (safe-fetch.ts) and webhook deliveries (webhooks/post.ts).
 */
export function pinnedAgent(
  pinned: ReadonlyMap<string, readonly ResolvedAddress[]>,
  options: { connections: number; ca?: string | Buffer | Array<string | Buffer> },
): Agent {
  return new Agent({
    connect: {
      ...(options.ca !== undefined
        ? { ca: [...tls.rootCertificates, ...[options.ca].flat()] }
        : {}),
      lookup: (
        hostname: string,
        lookupOptions: LookupOptions,
        callback: (
          err: NodeJS.ErrnoException | null,
          address: string | LookupAddress[],
          family?: number,
        ) => void,
      ) => {
        const addresses = pinned.get(bareHost(hostname).toLowerCase());
        if (!addresses || addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${hostname} was not checked`);
          err.code = 'ENOTFOUND';
          callback(err, '');
          return;
        }
        const wanted = lookupOptions.family === 4 || lookupOptions.family === 6;
        const usable = wanted
          ? addresses.filter((a) => a.family === lookupOptions.family)
          : addresses;
        const list = usable.length > 0 ? usable : addresses;
        if (lookupOptions.all) callback(null, [...list]);
        else callback(null, list[0]!.address, list[0]!.family);
      },
    },
    connections: options.connections,
    pipelining: 0,
  });
}
