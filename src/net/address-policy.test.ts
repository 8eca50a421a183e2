/**
 * The outbound address policy, as one table: each row is a URL, the policy it is checked under,
 * and what the policy says (the addresses to connect to, or the refusal reason). Host names
 * resolve through a fixed table; nothing here touches the network.
 */
import { describe, expect, it } from 'vitest';
import {
  checkUrl,
  classifyAddress,
  guardedLookup,
  UnsafeUrlError,
  type AddressPolicy,
  type HostResolver,
  type RefusalReason,
} from './address-policy.js';

const DNS: Record<string, string[]> = {
  'public.example': ['93.184.216.34'],
  'v6.example': ['2606:4700:4700::1111'],
  'dual.example': ['93.184.216.34', '2606:4700:4700::1111'],
  'mixed.example': ['93.184.216.34', '10.0.0.5'],
  'loop.example': ['127.0.0.1'],
  'rebind.example': ['::ffff:7f00:1'],
  'meta.example': ['169.254.169.254'],
  'azure.example': ['168.63.129.16'],
  'wiki.corp.example': ['10.1.2.3'],
  'nat64.example': ['64:ff9b::5db8:d822'], // 93.184.216.34 through DNS64
  'myhost.local': ['93.184.216.34'],
};

const resolve: HostResolver = async (host) => {
  const answers = DNS[host];
  if (!answers)
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

const STRICT: AddressPolicy = {};
const OPEN: AddressPolicy = { allowPrivate: true };
const INTRANET: AddressPolicy = {
  allowedHosts: ['wiki.corp.example', 'meta.example', '127.0.0.1:8080', 'myhost.local'],
};

type Row = [url: string, policy: AddressPolicy, expected: RefusalReason | 'allowed'];

const ROWS: Row[] = [
  // public destinations
  ['http://8.8.8.8/', STRICT, 'allowed'],
  ['https://1.1.1.1/', STRICT, 'allowed'],
  ['http://[2606:4700:4700::1111]/', STRICT, 'allowed'],
  ['http://public.example/', STRICT, 'allowed'],
  ['http://dual.example/', STRICT, 'allowed'],
  ['http://[::ffff:8.8.8.8]/', STRICT, 'allowed'],
  ['http://[64:ff9b::808:808]/', STRICT, 'allowed'], // NAT64 of 8.8.8.8
  ['http://nat64.example/', STRICT, 'allowed'],
  // loopback, in every spelling
  ['http://127.0.0.1/', STRICT, 'loopback'],
  ['http://127.1.2.3:8080/', STRICT, 'loopback'],
  ['http://2130706433/', STRICT, 'loopback'], // 127.0.0.1 as one number
  ['http://0x7f.1/', STRICT, 'loopback'],
  ['http://[::1]/', STRICT, 'loopback'],
  ['http://[::ffff:127.0.0.1]/', STRICT, 'loopback'],
  ['http://[::7f00:1]/', STRICT, 'loopback'], // IPv4-compatible
  ['http://[::ffff:0:7f00:1]/', STRICT, 'loopback'], // IPv4-translated
  ['http://[64:ff9b::7f00:1]/', STRICT, 'loopback'], // NAT64
  ['http://[2002:7f00:1::]/', STRICT, 'loopback'], // 6to4
  ['http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', STRICT, 'loopback'], // Teredo, client 127.0.0.1
  ['http://localhost/', STRICT, 'loopback'],
  ['http://LOCALHOST./', STRICT, 'loopback'],
  ['http://api.localhost/', STRICT, 'loopback'],
  ['http://loop.example/', STRICT, 'loopback'],
  ['http://rebind.example/', STRICT, 'loopback'],
  // private and local networks
  ['http://10.0.0.1/', STRICT, 'private'],
  ['http://172.16.5.4/', STRICT, 'private'],
  ['http://172.31.255.255/', STRICT, 'private'],
  ['http://192.168.1.1/', STRICT, 'private'],
  ['http://[::ffff:a00:1]/', STRICT, 'private'],
  ['http://[64:ff9b::c0a8:101]/', STRICT, 'private'], // NAT64 of 192.168.1.1
  ['http://[2002:c0a8:101::1]/', STRICT, 'private'], // 6to4 of 192.168.1.1
  ['http://[64:ff9b:1::a00:1]/', STRICT, 'reserved'], // local-use NAT64
  ['http://mixed.example/', STRICT, 'private'],
  ['http://[fec0::1]/', STRICT, 'private'], // site-local
  ['http://[fd12:3456::1]/', STRICT, 'uniqueLocal'],
  ['http://[fc00::1]/', STRICT, 'uniqueLocal'],
  ['http://169.254.1.1/', STRICT, 'linkLocal'],
  ['http://[fe80::1]/', STRICT, 'linkLocal'],
  ['http://100.64.0.1/', STRICT, 'carrierGradeNat'],
  ['http://100.127.255.254/', STRICT, 'carrierGradeNat'],
  ['http://printer.local/', STRICT, 'localName'],
  ['http://router.home.arpa/', STRICT, 'localName'],
  ['http://db.internal/', STRICT, 'localName'],
  // multicast, broadcast, unspecified
  ['http://224.0.0.1/', STRICT, 'multicast'],
  ['http://239.255.255.250/', STRICT, 'multicast'],
  ['http://[ff02::1]/', STRICT, 'multicast'],
  ['http://255.255.255.255/', STRICT, 'broadcast'],
  ['http://0.0.0.0/', STRICT, 'unspecified'],
  ['http://0.1.2.3/', STRICT, 'unspecified'],
  ['http://[::]/', STRICT, 'unspecified'],
  // reserved, benchmarking, documentation
  ['http://192.0.2.10/', STRICT, 'reserved'], // TEST-NET-1
  ['http://198.51.100.7/', STRICT, 'reserved'], // TEST-NET-2
  ['http://203.0.113.9/', STRICT, 'reserved'], // TEST-NET-3
  ['http://198.18.0.1/', STRICT, 'reserved'], // benchmarking
  ['http://192.0.0.8/', STRICT, 'reserved'], // IETF protocol assignments
  ['http://240.0.0.1/', STRICT, 'reserved'], // class E
  ['http://[2001:db8::1]/', STRICT, 'reserved'], // documentation
  ['http://[2001:2::1]/', STRICT, 'reserved'], // benchmarking
  ['http://[100::1]/', STRICT, 'reserved'], // discard
  ['http://[::2]/', STRICT, 'unspecified'], // IPv4-compatible form of 0.0.0.2
  ['http://[2002:808:808::1]/', STRICT, 'reserved'], // 6to4 of a public address: still a tunnel
  ['http://[4000::1]/', STRICT, 'reserved'], // outside 2000::/3
  // cloud metadata
  ['http://169.254.169.254/latest/meta-data/', STRICT, 'metadata'],
  ['http://169.254.170.2/v2/credentials', STRICT, 'metadata'],
  ['http://168.63.129.16/machine', STRICT, 'metadata'], // Azure wire server, a public address
  ['http://100.100.100.200/latest/meta-data', STRICT, 'metadata'], // Alibaba
  ['http://[fd00:ec2::254]/', STRICT, 'metadata'],
  ['http://[::ffff:169.254.169.254]/', STRICT, 'metadata'],
  ['http://[::ffff:a9fe:a9fe]/', STRICT, 'metadata'],
  ['http://[64:ff9b::a83f:8110]/', STRICT, 'metadata'], // NAT64 of 168.63.129.16
  ['http://meta.example/', STRICT, 'metadata'],
  ['http://azure.example/', STRICT, 'metadata'],
  // schemes
  ['file:///etc/passwd', STRICT, 'scheme'],
  ['ftp://public.example/', STRICT, 'scheme'],
  ['gopher://public.example/', OPEN, 'scheme'],
  // allowedHosts: named hosts may be private, never metadata
  ['http://wiki.corp.example/', INTRANET, 'allowed'],
  ['http://wiki.corp.example/', STRICT, 'private'],
  ['http://127.0.0.1:8080/', INTRANET, 'allowed'],
  ['http://127.0.0.1:8081/', INTRANET, 'loopback'],
  ['http://myhost.local/', INTRANET, 'allowed'],
  ['http://meta.example/', INTRANET, 'metadata'],
  // allowPrivate: everything http(s)
  ['http://127.0.0.1/', OPEN, 'allowed'],
  ['http://169.254.169.254/', OPEN, 'allowed'],
  ['http://[::7f00:1]/', OPEN, 'allowed'],
  ['http://wiki.corp.example/', OPEN, 'allowed'],
];

describe('address policy', () => {
  it.each(ROWS)('%s under %j → %s', async (url, policy, expected) => {
    const outcome = await checkUrl(new URL(url), policy, resolve).then(
      (addresses) => ({ addresses }),
      (error: unknown) => ({ error }),
    );
    if (expected === 'allowed') {
      expect(outcome).toHaveProperty('addresses');
      expect((outcome as { addresses: unknown[] }).addresses.length).toBeGreaterThan(0);
      return;
    }
    const { error } = outcome as { error: unknown };
    expect(error).toBeInstanceOf(UnsafeUrlError);
    expect((error as UnsafeUrlError).reason).toBe(expected);
    expect((error as UnsafeUrlError).url).toBe(new URL(url).href);
  });

  it('has at least 40 rows', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
  });

  it('keeps resolved addresses out of refusal messages, and names the host', async () => {
    const error = (await checkUrl(new URL('http://mixed.example/'), STRICT, resolve).catch(
      (e: unknown) => e,
    )) as UnsafeUrlError;
    expect(error.message).toBe(
      'refused mixed.example: it resolves to a private-network address, which is not allowed',
    );
    expect(error.address).toBe('10.0.0.5');
  });

  it('returns every checked address for the caller to connect to (no second lookup)', async () => {
    expect(await checkUrl(new URL('http://dual.example/'), STRICT, resolve)).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700:4700::1111', family: 6 },
    ]);
  });

  it('passes resolver failures through untouched', async () => {
    await expect(checkUrl(new URL('http://nowhere.example/'), STRICT, resolve)).rejects.toThrow(
      /ENOTFOUND nowhere\.example/,
    );
  });

  it('calls addresses it cannot parse invalid', () => {
    expect(classifyAddress('not an ip')).toBe('invalid');
    expect(classifyAddress('0x7f.1')).toBe('invalid'); // only canonical forms come from DNS
    expect(classifyAddress('[::1]')).toBe('loopback');
    expect(classifyAddress('fe80::1%eth0')).toBe('linkLocal');
  });

  it('refuses non-public addresses on the socket too (DNS rebinding), in both lookup forms', async () => {
    const viaAll = await new Promise<NodeJS.ErrnoException | null>((done) =>
      guardedLookup('localhost', { all: true }, (err) => done(err)),
    );
    expect(viaAll?.code).toBe('EADDRNOTALLOWED');
    const single = await new Promise<NodeJS.ErrnoException | null>((done) =>
      guardedLookup('127.0.0.1', {}, (err) => done(err)),
    );
    expect(single?.code).toBe('EADDRNOTALLOWED');
  });
});
