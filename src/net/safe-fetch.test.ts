import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostAllowed, UnsafeUrlError, type HostResolver } from './address-policy.js';
import { FetchFailedError, safeFetch, type SafeFetchOptions } from './safe-fetch.js';

interface TestServer {
  port: number;
  url: string;
  hits: string[];
  hosts: string[];
}

const servers: Server[] = [];

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer> {
  const hits: string[] = [];
  const hosts: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    hosts.push(req.headers.host ?? '');
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, url: `http://127.0.0.1:${port}`, hits, hosts };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const base: SafeFetchOptions = { maxBytes: 1 << 20, timeoutMs: 5_000 };

/** A resolver for made-up names; anything else fails like NXDOMAIN. */
function fakeDns(table: Record<string, string[]>): HostResolver & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (hostname: string) => {
    calls.push(hostname);
    const answers = table[hostname];
    if (!answers)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
  };
  return Object.assign(fn, { calls });
}

async function refusal(url: string, options: SafeFetchOptions = base): Promise<UnsafeUrlError> {
  const error = await safeFetch(url, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsafeUrlError);
  return error as UnsafeUrlError;
}

async function failure(url: string, options: SafeFetchOptions): Promise<FetchFailedError> {
  const error = await safeFetch(url, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FetchFailedError);
  return error as FetchFailedError;
}

const ok =
  (body: string, type = 'text/plain') =>
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': type });
    res.end(body);
  };

describe('hostAllowed', () => {
  it('matches host, host:port, wildcard suffix and IP literals', () => {
    const url = new URL('http://wiki.corp.example:8080/x');
    expect(hostAllowed(url, ['wiki.corp.example'])).toBe(true);
    expect(hostAllowed(url, ['WIKI.corp.example:8080'])).toBe(true);
    expect(hostAllowed(url, ['wiki.corp.example:80'])).toBe(false);
    expect(hostAllowed(url, ['*.corp.example'])).toBe(true);
    expect(hostAllowed(url, ['*.other.example'])).toBe(false);
    expect(hostAllowed(new URL('http://[::1]:9/'), ['[::1]:9'])).toBe(true);
    expect(hostAllowed(new URL('http://127.0.0.1/'), ['127.0.0.1:80'])).toBe(true);
    expect(hostAllowed(url, [])).toBe(false);
  });
});

describe('safeFetch refuses non-public destinations', () => {
  it('refuses http://127.0.0.1 without connecting', async () => {
    const server = await serve(ok('secret'));
    const error = await refusal(`${server.url}/`);
    expect(error.reason).toBe('loopback');
    expect(error.message).toMatch(/loopback/);
    expect(server.hits).toEqual([]);
  });

  it('refuses http://localhost (resolved by the system resolver)', async () => {
    const server = await serve(ok('secret'));
    const error = await refusal(`http://localhost:${server.port}/`);
    expect(error.reason).toBe('loopback');
    expect(error.message).toContain('localhost');
    expect(server.hits).toEqual([]);
  });

  it('refuses [::1]', async () => {
    const error = await refusal('http://[::1]:1/');
    expect(error.reason).toBe('loopback');
  });

  it.each([
    ['http://10.0.0.1/', 'private'],
    ['http://192.168.0.10:8080/', 'private'],
    ['http://172.20.1.1/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:a00:1]/', 'private'],
    ['http://100.64.0.1/', 'carrierGradeNat'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[fe80::1]/', 'linkLocal'],
    ['http://2130706433/', 'loopback'], // 127.0.0.1 written as a number
    ['http://0x7f.1/', 'loopback'],
  ])('refuses the literal address in %s', async (url, reason) => {
    const error = await refusal(url, { ...base, timeoutMs: 1_000 });
    expect(error.reason).toBe(reason);
  });

  it('refuses a host name that resolves to a loopback address', async () => {
    const server = await serve(ok('secret'));
    const dns = fakeDns({ 'evil.example': ['127.0.0.1'] });
    const error = await refusal(`http://evil.example:${server.port}/`, { ...base, resolve: dns });
    expect(error.reason).toBe('loopback');
    expect(error.address).toBe('127.0.0.1');
    expect(server.hits).toEqual([]);
  });

  it('refuses when any one of the resolved addresses is private', async () => {
    const dns = fakeDns({ 'mixed.example': ['93.184.216.34', '10.0.0.5'] });
    const error = await refusal('http://mixed.example/', { ...base, resolve: dns });
    expect(error.reason).toBe('private');
  });

  it('refuses schemes other than http and https', async () => {
    expect((await refusal('file:///etc/passwd')).reason).toBe('scheme');
    expect((await refusal('ftp://example.com/x')).reason).toBe('scheme');
    expect((await refusal('gopher://example.com/')).reason).toBe('scheme');
  });

  it('refuses a redirect from an allowed host to a private address (host:port allow entry)', async () => {
    const inner = await serve(ok('internal secret'));
    const outer = await serve((_req, res) => {
      res.writeHead(302, { location: `${inner.url}/admin` });
      res.end();
    });
    const error = await refusal(`${outer.url}/start`, {
      ...base,
      allowedHosts: [`127.0.0.1:${outer.port}`],
    });
    expect(error.reason).toBe('loopback');
    expect(error.url).toBe(`${inner.url}/admin`);
    expect(outer.hits).toEqual(['/start']);
    expect(inner.hits).toEqual([]);
  });

  it('refuses a redirect from a "public" host to a name resolving privately (injected DNS)', async () => {
    const inner = await serve(ok('internal secret'));
    const outer = await serve((_req, res) => {
      res.writeHead(301, { location: `http://intranet.example:${inner.port}/` });
      res.end();
    });
    const dns = fakeDns({
      'public.example': ['127.0.0.1'],
      'intranet.example': ['127.0.0.1'],
    });
    const error = await refusal(`http://public.example:${outer.port}/`, {
      ...base,
      resolve: dns,
      allowedHosts: ['public.example'],
    });
    expect(error.reason).toBe('loopback');
    expect(error.message).toContain('intranet.example');
    expect(outer.hits).toEqual(['/']);
    expect(inner.hits).toEqual([]);
  });

  it('refuses a redirect to a file: URL', async () => {
    const outer = await serve((_req, res) => {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
    });
    const error = await refusal(`${outer.url}/`, { ...base, allowPrivate: true });
    expect(error.reason).toBe('scheme');
  });

  it('keeps metadata addresses refused even for allowed hosts', async () => {
    const dns = fakeDns({ 'meta.example': ['169.254.169.254'] });
    const error = await refusal('http://meta.example/', {
      ...base,
      resolve: dns,
      allowedHosts: ['meta.example'],
    });
    expect(error.reason).toBe('metadata');
  });
});

describe('safeFetch fetches', () => {
  it('fetches loopback when allowPrivate is true', async () => {
    const server = await serve(ok('hello', 'text/plain; charset=utf-8'));
    const res = await safeFetch(`${server.url}/a?b=1`, { ...base, allowPrivate: true });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    expect(res.contentType).toBe('text/plain; charset=utf-8');
    expect(res.url).toBe(`${server.url}/a?b=1`);
    expect(res.truncated).toBe(false);
    expect(server.hits).toEqual(['/a?b=1']);
  });

  it('fetches http://localhost when allowPrivate is true', async () => {
    const server = await serve(ok('local'));
    // localhost may resolve to ::1 first; the test server listens on IPv4 only, so pin it.
    const dns = fakeDns({ localhost: ['127.0.0.1'] });
    const res = await safeFetch(`http://localhost:${server.port}/`, {
      ...base,
      allowPrivate: true,
      resolve: dns,
    });
    expect(res.body.toString()).toBe('local');
  });

  it('connects to the checked address and never resolves twice (DNS rebinding)', async () => {
    const server = await serve(ok('pinned'));
    let answers = 0;
    const rebinding: HostResolver = async () => {
      answers++;
      // First answer is the checked one; a later answer would point somewhere else.
      return [{ address: answers === 1 ? '127.0.0.1' : '192.0.2.1', family: 4 }];
    };
    const res = await safeFetch(`http://site.example:${server.port}/page`, {
      ...base,
      resolve: rebinding,
      allowedHosts: ['site.example'],
    });
    expect(res.body.toString()).toBe('pinned');
    expect(answers).toBe(1);
    // The request carries the name in Host while the socket went to the checked address.
    expect(server.hosts).toEqual([`site.example:${server.port}`]);
  });

  it('follows redirects, re-resolving each hop, and reports the final URL', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/one') {
        res.writeHead(301, { location: '/two' });
        res.end();
      } else if (req.url === '/two') {
        res.writeHead(307, {
          location: `http://b.example:${(req.socket.localPort ?? 0).toString()}/three`,
        });
        res.end();
      } else {
        ok('done')(req, res);
      }
    });
    const dns = fakeDns({ 'a.example': ['127.0.0.1'], 'b.example': ['127.0.0.1'] });
    const res = await safeFetch(`http://a.example:${server.port}/one`, {
      ...base,
      resolve: dns,
      allowedHosts: ['a.example', 'b.example'],
    });
    expect(res.body.toString()).toBe('done');
    expect(res.url).toBe(`http://b.example:${server.port}/three`);
    expect(res.hops).toHaveLength(3);
    expect(dns.calls).toEqual(['a.example', 'a.example', 'b.example']);
  });

  it('gives up after maxRedirects', async () => {
    const server = await serve((req, res) => {
      const n = Number((req.url ?? '/0').slice(1));
      res.writeHead(302, { location: `/${n + 1}` });
      res.end();
    });
    const error = await failure(`${server.url}/0`, {
      ...base,
      allowPrivate: true,
      maxRedirects: 3,
    });
    expect(error.kind).toBe('too_many_redirects');
    expect(server.hits).toEqual(['/0', '/1', '/2', '/3']);
  });

  it('drops credentials on a cross-origin redirect', async () => {
    const target = await serve((req, res) => ok(req.headers.authorization ?? 'none')(req, res));
    const first = await serve((req, res) => {
      res.writeHead(302, { location: `http://localhost:${target.port}/` });
      res.end(req.headers.authorization);
    });
    const res = await safeFetch(`${first.url}/`, {
      ...base,
      allowPrivate: true,
      resolve: fakeDns({ localhost: ['127.0.0.1'] }),
      headers: { Authorization: 'Bearer secret' },
    });
    expect(res.body.toString()).toBe('none');
  });

  it('cuts a 10 MB page at maxBytes', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const pump = () => {
        while (sent < 10 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    });
    const maxBytes = 1024 * 1024 + 17;
    const res = await safeFetch(`${server.url}/big`, { ...base, allowPrivate: true, maxBytes });
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeLessThanOrEqual(maxBytes);
    expect(res.body.length).toBe(maxBytes);
  });

  it('is not truncated when the body is exactly maxBytes', async () => {
    const server = await serve(ok('x'.repeat(100)));
    const res = await safeFetch(`${server.url}/`, { ...base, allowPrivate: true, maxBytes: 100 });
    expect(res.truncated).toBe(false);
    expect(res.body.length).toBe(100);
  });

  it('decodes gzip and caps the decoded size (no zip bombs)', async () => {
    const packed = gzipSync(Buffer.alloc(5 * 1024 * 1024, 'z'));
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      res.end(packed);
    });
    const res = await safeFetch(`${server.url}/`, {
      ...base,
      allowPrivate: true,
      maxBytes: 4096,
    });
    expect(res.truncated).toBe(true);
    expect(res.body.toString()).toBe('z'.repeat(4096));
  });

  it('times out when the server never answers', async () => {
    const server = await serve(() => undefined);
    const started = Date.now();
    const error = await failure(`${server.url}/hang`, {
      ...base,
      allowPrivate: true,
      timeoutMs: 300,
    });
    expect(error.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('times out when the body trickles past the deadline', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const error = await failure(`${server.url}/slow`, {
      ...base,
      allowPrivate: true,
      timeoutMs: 400,
    });
    expect(error.kind).toBe('timeout');
  });

  it('times out while DNS hangs', async () => {
    const error = await failure('http://slow-dns.example/', {
      ...base,
      timeoutMs: 200,
      resolve: () => new Promise(() => undefined),
    });
    expect(error.kind).toBe('timeout');
  });

  it('reports a cancelled fetch as aborted', async () => {
    const server = await serve(() => undefined);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(`${server.url}/`, {
      ...base,
      allowPrivate: true,
      signal: controller.signal,
    });
    expect(error.kind).toBe('aborted');
  });

  it('reports refused connections and unknown names as failures', async () => {
    const server = await serve(ok(''));
    const port = server.port;
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    expect((await failure(`http://127.0.0.1:${port}/`, { ...base, allowPrivate: true })).kind).toBe(
      'network',
    );
    expect((await failure('http://nowhere.example/', { ...base, resolve: fakeDns({}) })).kind).toBe(
      'dns',
    );
    expect((await failure('not a url', base)).kind).toBe('invalid_url');
  });
});

/** A self-signed certificate for `secure.example`, made by the openssl command. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'safe-fetch-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=secure.example',
        '-addext',
        'subjectAltName=DNS:secure.example',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch (err) {
    throw new Error(
      `these tests make a test certificate with the openssl command, which failed ` +
        `(${(err as Error).message}); install openssl`,
      { cause: err },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('safeFetch over https', () => {
  let pair: { key: Buffer; cert: Buffer };
  beforeAll(() => {
    pair = selfSigned();
  });

  it('connects to the checked address while verifying the certificate for the host name (SNI)', async () => {
    const server = createHttpsServer({ key: pair.key, cert: pair.cert }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`tls ok for ${req.headers.host}`);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const options: SafeFetchOptions = {
      ...base,
      resolve: fakeDns({ 'secure.example': ['127.0.0.1'] }),
      allowedHosts: ['secure.example'],
    };
    const res = await safeFetch(`https://secure.example:${port}/`, { ...options, ca: pair.cert });
    expect(res.body.toString()).toBe(`tls ok for secure.example:${port}`);

    // Without the CA the self-signed certificate is rejected: verification is on.
    const error = await failure(`https://secure.example:${port}/`, options);
    expect(error.kind).toBe('network');

    // The certificate names secure.example, so the bare address fails verification too.
    const byIp = await failure(`https://127.0.0.1:${port}/`, {
      ...base,
      allowPrivate: true,
      ca: pair.cert,
    });
    expect(byIp.kind).toBe('network');
  });
});
