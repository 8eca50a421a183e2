import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The outbound address policy for remote MCP servers (spec §7.6: "the same URL safety policy as
 * url_context"): only public unicast addresses are reachable unless the operator allows private
 * ones. The check runs twice: on the URL before connecting (so the request fails with a clear 400)
 * and on every socket the HTTP client opens (so DNS rebinding cannot slip a private address in).
 */

/** Why an address is refused, or undefined when it is a public unicast address. */
export function refusedAddressReason(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return 'not an IP address';
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  return range === 'unicast' ? undefined : `${range} address`;
}

/** Host names that are private by definition (RFC 6761), whatever a resolver says. */
function isLocalName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || h.endsWith('.local');
}

export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses.map((a) => a.address));
    });
  });

/**
 * Checks a URL's host before connecting. Returns why it is refused (for the 400 message), or
 * undefined when every address it resolves to is public. Resolution failures throw.
 */
export async function checkUrlHost(
  url: URL,
  resolve: Resolver = systemResolver,
): Promise<string | undefined> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const reason = refusedAddressReason(host);
    return reason && `${host} is a ${reason}`;
  }
  if (isLocalName(host)) return `${host} is a local host name`;
  const addresses = await resolve(host);
  for (const address of addresses) {
    const reason = refusedAddressReason(address);
    if (reason) return `${host} resolves to ${address}, a ${reason}`;
  }
  return undefined;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A drop-in `lookup` for net/tls `connect` options that refuses non-public addresses. Handles
 * both the single-address form and the `all: true` form Node uses for happy eyeballs.
 */
export function guardedLookup(
  hostname: string,
  options: { all?: boolean; family?: number | string; hints?: number } | undefined,
  callback: LookupCallback,
): void {
  const all = options?.all === true;
  dnsLookup(
    hostname,
    { ...(options ?? {}), all: true, verbatim: true } as { all: true },
    (err, addresses) => {
      if (err) return callback(err, all ? [] : '');
      for (const { address } of addresses) {
        const reason = refusedAddressReason(address);
        if (reason) {
          const refused: NodeJS.ErrnoException = new Error(
            `refused to connect to ${hostname} (${address}): ${reason}`,
          );
          refused.code = 'EADDRNOTALLOWED';
          return callback(refused, all ? [] : '');
        }
      }
      if (all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) {
        const none: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
        none.code = 'ENOTFOUND';
        return callback(none, '');
      }
      callback(null, first.address, first.family);
    },
  );
}
