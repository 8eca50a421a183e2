import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The one outbound address policy (design §4): what a URL chosen by a model, a user or a tenant
 * may reach. url_context (through safe-fetch), MCP servers, and later webhooks and model
 * downloads all ask this module, so the rules cannot drift apart again (the MCP copy once let
 * 168.63.129.16 and `::7f00:1` through).
 *
 * Only public unicast addresses are reachable. Refused: loopback, private (RFC 1918), link-local,
 * unique-local, carrier-grade NAT, multicast, broadcast, unspecified (`0.0.0.0`, `::`), reserved,
 * benchmarking and documentation ranges, IPv6 outside 2000::/3, cloud metadata services (some are
 * ordinary public addresses, e.g. Azure's 168.63.129.16), and local host names (`localhost`,
 * `*.local`, …) whatever DNS says. IPv6 forms that carry an IPv4 address are judged by that
 * address: IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) are reachable when it
 * is public; the deprecated or tunnelling forms (IPv4-compatible `::a.b.c.d`, IPv4-translated
 * `::ffff:0:a.b.c.d`, 6to4 `2002::/16`, Teredo `2001::/32`) are always refused, reported under
 * the embedded address's range when that is non-public.
 *
 * `allowPrivate` lifts every rule; `allowedHosts` lets named hosts resolve to non-public
 * addresses, except cloud metadata addresses. Address classes come from ipaddr.js; the table on
 * top of it (metadata, embeddings, local names) is ours.
 */

/** Why an address is not reachable, or `'public'` when it is. */
export type AddressRange =
  | 'public'
  | 'loopback'
  | 'private'
  | 'linkLocal'
  | 'uniqueLocal'
  | 'carrierGradeNat'
  | 'multicast'
  | 'broadcast'
  | 'unspecified'
  | 'reserved'
  | 'metadata'
  | 'localName'
  | 'invalid';

/** Why a URL is refused: an address range, or a scheme other than http(s). */
export type RefusalReason = Exclude<AddressRange, 'public'> | 'scheme';

export interface AddressPolicy {
  /** Reach every address (loopback, private, metadata …). Only http/https are ever allowed. */
  allowPrivate?: boolean;
  /**
   * Hosts that may resolve to non-public addresses (an intranet wiki, a test server): `host`,
   * `host:port`, `[v6]:port` or `*.suffix`. Cloud metadata addresses stay refused.
   */
  allowedHosts?: readonly string[];
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (tests inject one to simulate public hosts). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export class UnsafeUrlError extends Error {
  readonly url: string;
  readonly reason: RefusalReason;
  /** The refused address; kept out of the message (it may describe an internal network). */
  readonly address?: string;

  constructor(url: string, reason: RefusalReason, message: string, address?: string) {
    super(message);
    this.name = 'UnsafeUrlError';
    this.url = url;
    this.reason = reason;
    this.address = address;
  }
}

/** Cloud metadata services; some are ordinary public unicast addresses. */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean, …
  '169.254.170.2', // AWS ECS task metadata
  '169.254.170.23', // AWS EKS pod identity
  '169.254.169.123', // AWS time sync
  '169.254.169.253', // AWS VPC DNS
  '168.63.129.16', // Azure wire server
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS over IPv6
  'fd00:ec2::23', // AWS EKS pod identity over IPv6
]);

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
/** `::a.b.c.d` (deprecated IPv4-compatible); `::` and `::1` are judged before this. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

/** ipaddr.js range names → ours (every name not listed is `reserved`). */
const RANGES: Record<string, AddressRange> = {
  unicast: 'public',
  loopback: 'loopback',
  private: 'private',
  deprecatedSiteLocal: 'private',
  linkLocal: 'linkLocal',
  uniqueLocal: 'uniqueLocal',
  carrierGradeNat: 'carrierGradeNat',
  multicast: 'multicast',
  broadcast: 'broadcast',
  unspecified: 'unspecified',
};

function parse(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIP(bare) === 0) return undefined; // only the canonical forms DNS and URLs produce
  try {
    return ipaddr.parse(bare);
  } catch {
    return undefined;
  }
}

function classifyV4(ip: ipaddr.IPv4): AddressRange {
  if (METADATA_ADDRESSES.has(ip.toString())) return 'metadata';
  return RANGES[ip.range()] ?? 'reserved';
}

function v4(bytes: number[]): ipaddr.IPv4 {
  return new ipaddr.IPv4(bytes);
}

/**
 * The IPv4 address an IPv6 address carries (`v4` is undefined when its place is unknown), and
 * whether that form is reachable at all.
 */
function embeddedV4(ip: ipaddr.IPv6): { v4?: ipaddr.IPv4; usable: boolean } | undefined {
  const b = ip.toByteArray();
  switch (ip.range()) {
    case 'ipv4Mapped':
      return { v4: ip.toIPv4Address(), usable: true };
    case 'rfc6052': // NAT64: the well-known /96 carries it in the last 32 bits
      return b[4] === 0 && b[5] === 0 ? { v4: v4(b.slice(12)), usable: true } : { usable: false }; // 64:ff9b:1::/48 is for local use, with variable layouts
    case 'rfc6145': // IPv4-translated ::ffff:0:a.b.c.d
      return { v4: v4(b.slice(12)), usable: false };
    case '6to4':
      return { v4: v4(b.slice(2, 6)), usable: false };
    case 'teredo': // the client address, bit-inverted, in the last 32 bits
      return { v4: v4(b.slice(12).map((x) => x ^ 0xff)), usable: false };
    default:
      return ip.match(IPV4_COMPATIBLE) ? { v4: v4(b.slice(12)), usable: false } : undefined;
  }
}

/**
 * Classifies an IP address: `'public'` when it may be reached, else the range that makes it
 * non-public. Brackets and a zone (`%eth0`) are ignored; anything that is not a canonical IP
 * address is `'invalid'`.
 */
export function classifyAddress(address: string): AddressRange {
  const ip = parse(address);
  if (!ip) return 'invalid';
  if (ip.kind() === 'ipv4') return classifyV4(ip as ipaddr.IPv4);
  const v6 = ip as ipaddr.IPv6;
  if (METADATA_ADDRESSES.has(v6.toString())) return 'metadata';
  const range = v6.range();
  if (range === 'loopback' || range === 'unspecified') return range;
  const embedded = embeddedV4(v6);
  if (embedded) {
    const inner = embedded.v4 ? classifyV4(embedded.v4) : 'reserved';
    if (inner !== 'public') return inner;
    return embedded.usable ? 'public' : 'reserved';
  }
  const mapped = RANGES[range] ?? 'reserved';
  if (mapped === 'public' && !v6.match(GLOBAL_UNICAST_V6)) return 'reserved';
  return mapped;
}

/** Host names that are local by definition, whatever a resolver says. */
export function localNameRange(host: string): 'loopback' | 'localName' | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return 'loopback'; // RFC 6761
  if (
    h.endsWith('.local') || // mDNS, RFC 6762
    h.endsWith('.home.arpa') || // RFC 8375
    h.endsWith('.internal') || // reserved for private use (ICANN, 2024)
    h === 'local' ||
    h === 'internal'
  ) {
    return 'localName';
  }
  return undefined;
}

/** Whether `url`'s host is named by one of the `allowedHosts` patterns. */
export function hostAllowed(url: URL, allowedHosts: readonly string[] | undefined): boolean {
  if (!allowedHosts || allowedHosts.length === 0) return false;
  const host = bareHost(url.hostname).toLowerCase().replace(/\.$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of allowedHosts) {
    let pattern = raw.trim().toLowerCase();
    let patternPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(pattern);
    if (bracketed) {
      pattern = bracketed[1]!;
      patternPort = bracketed[2];
    } else if (/^[^:]+:\d+$/.test(pattern)) {
      const at = pattern.lastIndexOf(':');
      patternPort = pattern.slice(at + 1);
      pattern = pattern.slice(0, at);
    }
    if (patternPort !== undefined && patternPort !== port) continue;
    pattern = pattern.replace(/\.$/, '');
    if (pattern.startsWith('*.')) {
      if (host.endsWith(pattern.slice(1))) return true;
    } else if (pattern === host) {
      return true;
    } else if (isIP(pattern) && isIP(host) && sameAddress(pattern, host)) {
      return true;
    }
  }
  return false;
}

function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.process(a).toNormalizedString() === ipaddr.process(b).toNormalizedString();
  } catch {
    return false;
  }
}

/** `[::1]` → `::1`. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Words for a range in messages ("a loopback address"). */
export function describeRange(range: RefusalReason): string {
  switch (range) {
    case 'private':
      return 'private-network';
    case 'linkLocal':
      return 'link-local';
    case 'uniqueLocal':
      return 'unique-local';
    case 'carrierGradeNat':
      return 'carrier-grade NAT';
    case 'metadata':
      return 'cloud metadata';
    case 'localName':
      return 'local';
    default:
      return range;
  }
}

/** The refusal for one address, or undefined when the policy lets it through. */
function refusal(
  range: AddressRange,
  hostIsAllowed: boolean,
): Exclude<AddressRange, 'public'> | undefined {
  if (range === 'public') return undefined;
  if (hostIsAllowed && range !== 'metadata' && range !== 'invalid') return undefined;
  return range;
}

export const defaultResolver: HostResolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, answers) => {
      if (err) reject(err);
      else resolve(answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });

/**
 * Checks a URL against the policy and returns the addresses it may connect to (never empty):
 * the scheme, local host names, then every address the host resolves to (one refused address
 * refuses the URL). Throws UnsafeUrlError; resolution failures are thrown as the resolver threw
 * them, and an empty answer as an Error.
 */
export async function checkUrl(
  url: URL,
  policy: AddressPolicy,
  resolve: HostResolver = defaultResolver,
): Promise<ResolvedAddress[]> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UnsafeUrlError(
      url.href,
      'scheme',
      `refused ${url.protocol.replace(/:$/, '')} URL: only http and https are allowed`,
    );
  }
  const host = bareHost(url.hostname);
  const family = isIP(host);
  if (policy.allowPrivate) {
    return family !== 0
      ? [{ address: host, family: family === 6 ? 6 : 4 }]
      : nonEmpty(host, await resolve(host));
  }
  const hostIsAllowed = hostAllowed(url, policy.allowedHosts);
  if (family !== 0) {
    const refused = refusal(classifyAddress(host), hostIsAllowed);
    if (refused) {
      throw new UnsafeUrlError(
        url.href,
        refused,
        `refused ${host}: ${describeRange(refused)} addresses are not allowed`,
        host,
      );
    }
    return [{ address: host, family: family === 6 ? 6 : 4 }];
  }
  const local = localNameRange(host);
  if (local && !hostIsAllowed) {
    throw new UnsafeUrlError(
      url.href,
      local,
      `refused ${host}: ${describeRange(local)} host names are not allowed`,
    );
  }
  const addresses = nonEmpty(host, await resolve(host));
  for (const { address } of addresses) {
    const refused = refusal(classifyAddress(address), hostIsAllowed);
    if (refused) {
      throw new UnsafeUrlError(
        url.href,
        refused,
        `refused ${host}: it resolves to a ${describeRange(refused)} address, which is not allowed`,
        address,
      );
    }
  }
  return addresses;
}

function nonEmpty(host: string, addresses: ResolvedAddress[]): ResolvedAddress[] {
  if (addresses.length === 0) throw new Error(`no addresses for ${host}`);
  return addresses;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A drop-in `lookup` for net/tls `connect` options that resolves afresh and refuses non-public
 * addresses, so a host that passed `checkUrl` cannot rebind to a private address by the time a
 * socket opens (`EADDRNOTALLOWED`). Handles the single-address form and the `all: true` form Node
 * uses for happy eyeballs. For long-lived clients (MCP sessions) that open sockets over time;
 * one-shot fetches pin the checked addresses instead (safe-fetch).
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
        const range = classifyAddress(address);
        if (range !== 'public') {
          const refused: NodeJS.ErrnoException = new Error(
            `refused to connect to ${hostname}: it resolves to a ${describeRange(range)} address`,
          );
          refused.code = 'EADDRNOTALLOWED';
          return callback(refused, all ? [] : '');
        }
      }
      const first = addresses[0];
      if (!first) {
        const none: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
        none.code = 'ENOTFOUND';
        return callback(none, all ? [] : '');
      }
      if (all) return callback(null, addresses);
      callback(null, first.address, first.family);
    },
  );
}
