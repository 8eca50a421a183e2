import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.js';
import type { KeyStore, UsageLimits } from '../store/key-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface KeyConfig extends UsageLimits {
  key: string;
  project: string;
  name?: string;
}

/** Who a request acts as: its project, the key (for limits and usage per key), the key's limits. */
export interface Principal {
  project: string;
  /** `key_…` for a managed key, `yaml:<digest prefix>` for a configured one; null when open. */
  keyId: string | null;
  limits: UsageLimits;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

const OPEN: Principal = { project: 'default', keyId: null, limits: {} };

/**
 * API keys → projects: the configured (`keys:`) ones, kept only as SHA-256 digests and compared
 * in constant time, then the managed ones (src/store/key-store.ts), looked up per request by
 * digest so a revocation holds on every node at once. With no keys of either kind the server is
 * open (loopback only) and everything is project `default`.
 */
export class KeyRing {
  private readonly keys: { digest: Buffer; principal: Principal }[];
  /** Managed keys are never deleted, so once one exists the server stays closed. */
  private managedExist = false;

  constructor(
    keys: KeyConfig[] | undefined,
    private readonly managed?: KeyStore,
  ) {
    this.keys = (keys ?? []).map(({ key, project, name: _name, ...limits }) => {
      const d = digest(key);
      return {
        digest: d,
        principal: { project, keyId: `yaml:${d.toString('hex').slice(0, 12)}`, limits },
      };
    });
  }

  /** No keys configured in the file (managed keys may still exist: see `isOpen`). */
  get open(): boolean {
    return this.keys.length === 0;
  }

  /** True when no key of either kind exists: every request is project `default`. */
  async isOpen(): Promise<boolean> {
    if (this.keys.length > 0 || this.managedExist) return false;
    if (this.managed && (await this.managed.any())) this.managedExist = true;
    return !this.managedExist;
  }

  projectFor(key: string): string | undefined {
    return this.configured(key)?.project;
  }

  private configured(key: string): Principal | undefined {
    const d = digest(key);
    return this.keys.find((k) => timingSafeEqual(k.digest, d))?.principal;
  }

  /** Authenticates the request and records who it acts as on it (`request.project`, `request.principal`). */
  async authorize(request: FastifyRequest): Promise<string> {
    const principal = await this.authenticate(request);
    request.project = principal.project;
    request.principal = principal;
    return principal.project;
  }

  /** §1.4: x-goog-api-key, else ?key=, else Authorization: Bearer; differing keys → 400. */
  async authenticate(request: FastifyRequest): Promise<Principal> {
    const key = presentedKey(request);
    if (key !== undefined) {
      const found = this.configured(key) ?? (await this.findManaged(key));
      if (found) return found;
    }
    if (await this.isOpen()) return OPEN;
    if (key === undefined) throw new ApiError('unauthenticated', 'x-goog-api-key: API key missing');
    throw new ApiError('unauthenticated', 'x-goog-api-key: API key not valid');
  }

  private async findManaged(key: string): Promise<Principal | undefined> {
    const record = await this.managed?.findActive(key);
    if (!record) return undefined;
    this.managedExist = true;
    return { project: record.project, keyId: record.id, limits: record.limits };
  }
}

/** The one API key a request carries, if any; several different ones → 400. */
function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-goog-api-key'];
  const query = (request.query as Record<string, unknown> | undefined)?.key;
  const auth = request.headers.authorization;
  const bearer =
    typeof auth === 'string' && /^Bearer\s+/i.test(auth)
      ? auth.replace(/^Bearer\s+/i, '').trim()
      : undefined;
  // Node joins a repeated x-goog-api-key header into "k1, k2" (keys never contain commas).
  const headerKeys = typeof header === 'string' ? header.split(',').map((k) => k.trim()) : [];
  const found = [...headerKeys, query, bearer].filter(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
  if (Array.isArray(header) || Array.isArray(query)) {
    throw new ApiError('invalid_request', 'x-goog-api-key: send exactly one API key');
  }
  if (new Set(found).size > 1) {
    throw new ApiError('invalid_request', 'x-goog-api-key: the request carries different API keys');
  }
  return found[0];
}
