import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../protocol/errors.js';

export interface KeyConfig {
  key: string;
  project: string;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * API keys → projects. Keys are kept only as SHA-256 digests and compared in constant time;
 * with no keys configured the server is open (loopback only) and everything is project `default`.
 */
export class KeyRing {
  private readonly keys: { digest: Buffer; project: string }[];

  constructor(keys: KeyConfig[] | undefined) {
    this.keys = (keys ?? []).map((k) => ({ digest: digest(k.key), project: k.project }));
  }

  get open(): boolean {
    return this.keys.length === 0;
  }

  projectFor(key: string): string | undefined {
    const d = digest(key);
    return this.keys.find((k) => timingSafeEqual(k.digest, d))?.project;
  }

  /** §1.4: x-goog-api-key, else ?key=, else Authorization: Bearer; differing keys → 400. */
  authenticate(request: FastifyRequest): string {
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
      throw new ApiError(
        'invalid_request',
        'x-goog-api-key: the request carries different API keys',
      );
    }
    if (this.open) return 'default';
    const key = found[0];
    if (!key) throw new ApiError('unauthenticated', 'x-goog-api-key: API key missing');
    const project = this.projectFor(key);
    if (!project) throw new ApiError('unauthenticated', 'x-goog-api-key: API key not valid');
    return project;
  }
}
