/**
 * Removes secrets and upstream addresses from text that came from outside (an upstream's error
 * body, a connection error) before an operator's log line carries it. Tenants never see such
 * text at all (engine/errors.ts gives them a generic message); the log still must not hold the
 * credentials the server sends upstream or that a tenant passed for its MCP servers.
 *
 * What is secret is taken from the configuration as a whole, so a new backend or tool setting is
 * covered without code here: every header value, every string under a key that names a secret
 * (`api_key`, `token`, `password`, …), the password of a URL; and the values of environment
 * variables that providers read keys from. Hosts of configured URLs are addresses. Text is also
 * cleared of what looks like a credential or an address whatever its origin (`Bearer …`, URLs'
 * hosts, IP addresses).
 *
 * Hand-written: no library scrubs arbitrary values out of free text (pino's `redact` works on
 * paths of a logged object, not on the text inside a value).
 */

const SECRET_KEY =
  /(?:^|[_-])(?:key|api[_-]?key|token|secret|password|passwd|authorization|credentials?)$/i;
const SECRET_ENV = /(?:_API_KEY|_KEY|_TOKEN|_SECRET|_PASSWORD)$/;
/** Shorter values are not worth scrubbing and would blank out ordinary words. */
const MIN_SECRET_LENGTH = 4;

export const REDACTED = '[redacted]';

/** Patterns of credentials and addresses, each linear in the text (no nested quantifiers). */
const GENERIC: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[\w.~+/=-]+/gi, `$1 ${REDACTED}`],
  [/([?&](?:key|api[_-]?key|token|access_token|sig|signature)=)[^&#\s"'<>]+/gi, `$1${REDACTED}`],
  // the authority of any URL: user:password@host:port
  [/\b([a-z][a-z0-9+.-]{1,15}:\/\/)[^\s/?#"'<>\\]+/gi, '$1[host]'],
  [/\[[0-9a-f.]*:[0-9a-f:.]*\](?::\d{1,5})?/gi, '[address]'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g, '[address]'],
];

export interface ScrubSources {
  secrets: string[];
  hosts: string[];
}

/** Walks a configuration (or a request's tools) for secret values and the hosts of its URLs. */
export function collectSecrets(value: unknown, into: ScrubSources = { secrets: [], hosts: [] }) {
  const visit = (v: unknown, key: string, secret: boolean): void => {
    if (typeof v === 'string') {
      if (secret || SECRET_KEY.test(key)) into.secrets.push(v);
      const url = parseUrl(v);
      if (url) {
        if (url.hostname) into.hosts.push(url.hostname.replace(/^\[|\]$/g, ''));
        if (url.password) into.secrets.push(decodeURIComponent(url.password));
        if (url.username && url.password) into.secrets.push(decodeURIComponent(url.username));
      }
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, key, secret);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) visit(item, k, secret || /^headers$/i.test(key));
    }
  };
  visit(value, '', false);
  return into;
}

/** Values of environment variables that hold keys (providers read e.g. ANTHROPIC_API_KEY). */
export function environmentSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_ENV.test(name) && value)
    .map(([, value]) => value!);
}

function parseUrl(text: string): URL | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

export class Scrubber {
  private readonly sources: ScrubSources;
  private readonly secrets: string[];
  private readonly hosts: string[];

  constructor(sources: Partial<ScrubSources> = {}) {
    this.sources = { secrets: sources.secrets ?? [], hosts: sources.hosts ?? [] };
    const variants = new Set<string>();
    for (const s of this.sources.secrets) {
      if (s.length < MIN_SECRET_LENGTH) continue;
      // as sent, and as an upstream may echo it inside JSON or a URL
      variants.add(s);
      variants.add(JSON.stringify(s).slice(1, -1));
      variants.add(encodeURIComponent(s));
    }
    // longest first, so a secret that contains another is removed whole
    this.secrets = [...variants].sort((a, b) => b.length - a.length);
    this.hosts = [...new Set(this.sources.hosts)]
      .filter((h) => h.length >= MIN_SECRET_LENGTH)
      .sort((a, b) => b.length - a.length);
  }

  /** This scrubber plus the secrets of one request (its MCP servers' headers). */
  with(extra: ScrubSources): Scrubber {
    return new Scrubber({
      secrets: [...this.sources.secrets, ...extra.secrets],
      hosts: [...this.sources.hosts, ...extra.hosts],
    });
  }

  scrub(text: string): string {
    let out = text;
    // split/join: secrets are literal text, never patterns
    for (const s of this.secrets) out = out.split(s).join(REDACTED);
    for (const [pattern, replacement] of GENERIC) out = out.replace(pattern, replacement);
    for (const h of this.hosts) out = out.split(h).join('[host]');
    return out;
  }
}
