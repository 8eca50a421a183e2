/**
 * Limits of keys and projects (config `projects:`, `keys:` entries, managed keys): requests per
 * minute, tokens per minute, concurrent runs, stored bytes. A request must pass its key's and its
 * project's; over one it gets 429 RESOURCE_EXHAUSTED with `Retry-After`, before anything is
 * stored. The numbers live in the database (src/store/limit-store.ts), so nodes sharing a
 * PostgreSQL store enforce them together.
 */
import { ApiError } from '../protocol/errors.js';
import type { UsageLimits } from '../store/key-store.js';
import type { LimitScope, LimitStore } from '../store/limit-store.js';
import type { Principal } from './auth.js';

export type LimitKind = 'rpm' | 'tpm' | 'concurrent_runs' | 'stored_bytes';

/** Called for every request a limit refuses (metrics count them here). */
export type LimitRejectedHook = (
  kind: LimitKind,
  project: string,
  scope: 'key' | 'project',
) => void;

/** The default hook: nothing. The server counts rejections in its metrics (src/server.ts). */
export const onLimitRejected: LimitRejectedHook = () => {};

export interface RunPermit {
  /** Gives the concurrent-run place back; call once, when the run has ended. */
  release(): void;
}

const MINUTE_MS = 60_000;
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface LimiterOptions {
  store: LimitStore;
  /** Limits per project; `"*"` for projects not named. */
  projects: Record<string, UsageLimits>;
  nodeId: string;
  onRejected?: LimitRejectedHook;
  /** ms since the epoch (tests may move it). */
  clock?: () => number;
  /** Leases of nodes silent this long are dropped (as the stale-run sweep does). */
  staleNodeMs?: number;
}

const SCOPE_WORDS = { key: 'API key', project: 'project' } as const;

export class Limiter {
  private readonly clock: () => number;
  private readonly onRejected: LimitRejectedHook;

  constructor(private readonly o: LimiterOptions) {
    this.clock = o.clock ?? Date.now;
    this.onRejected = o.onRejected ?? onLimitRejected;
  }

  projectLimits(project: string): UsageLimits {
    return this.o.projects[project] ?? this.o.projects['*'] ?? {};
  }

  /** True when any limit applies to requests of this principal (else the checks cost nothing). */
  private scopes(
    principal: Principal,
  ): { scope: LimitScope; name: 'key' | 'project'; limits: UsageLimits }[] {
    const scopes: { scope: LimitScope; name: 'key' | 'project'; limits: UsageLimits }[] = [];
    if (principal.keyId !== null)
      scopes.push({ scope: { keyId: principal.keyId }, name: 'key', limits: principal.limits });
    scopes.push({
      scope: { project: principal.project },
      name: 'project',
      limits: this.projectLimits(principal.project),
    });
    return scopes;
  }

  private refuse(
    kind: LimitKind,
    principal: Principal,
    scope: 'key' | 'project',
    message: string,
    retryAfter: number,
  ): never {
    this.onRejected(kind, principal.project, scope);
    throw new ApiError(
      'resource_exhausted',
      `${SCOPE_WORDS[scope]} ${scope === 'project' ? `'${principal.project}' ` : ''}${message}`,
      { retryAfter: Math.max(1, Math.ceil(retryAfter)) },
    );
  }

  /** Requests per minute: counts this request and refuses it when a window is full. */
  async checkRequest(principal: Principal): Promise<void> {
    const now = this.clock();
    const window = Math.floor(now / MINUTE_MS);
    const retryAfter = ((window + 1) * MINUTE_MS - now) / 1000;
    for (const { scope, name, limits } of this.scopes(principal)) {
      if (limits.rpm === undefined) continue;
      const count = await this.o.store.countRequest(scope, window);
      if (count > limits.rpm)
        this.refuse(
          'rpm',
          principal,
          name,
          `is over its limit of ${limits.rpm} requests per minute`,
          retryAfter,
        );
    }
  }

  /**
   * Before a run: tokens of the last minute and stored bytes under their limits, then a place
   * among the concurrent runs. The permit must be released when the run ends.
   */
  async admitRun(principal: Principal): Promise<RunPermit> {
    const now = this.clock();
    const scopes = this.scopes(principal);
    for (const { scope, name, limits } of scopes) {
      if (limits.tpm !== undefined) {
        const { tokens, oldest } = await this.o.store.tokensSince(
          scope,
          isoSeconds(now - MINUTE_MS),
        );
        if (tokens >= limits.tpm) {
          // When the oldest of the counted runs leaves the window (within a minute at most).
          const retryAfter = oldest
            ? Math.min(60, (Date.parse(oldest) + MINUTE_MS - now) / 1000)
            : 60;
          this.refuse(
            'tpm',
            principal,
            name,
            `used ${tokens} tokens in the last minute (limit ${limits.tpm} per minute)`,
            retryAfter,
          );
        }
      }
      if (limits.stored_bytes !== undefined) {
        const bytes = await this.o.store.storedBytes(scope, isoSeconds(now));
        if (bytes >= limits.stored_bytes) {
          // Space comes back only when something is deleted or expires: a long wait.
          this.refuse(
            'stored_bytes',
            principal,
            name,
            `stores ${bytes} bytes (limit ${limits.stored_bytes}); delete interactions or files to make room`,
            3600,
          );
        }
      }
    }
    const projectLimit = this.projectLimits(principal.project).concurrent_runs;
    const keyLimit = principal.keyId !== null ? principal.limits.concurrent_runs : undefined;
    if (projectLimit === undefined && keyLimit === undefined) return { release() {} };
    const result = await this.o.store.acquireRun({
      project: principal.project,
      keyId: principal.keyId,
      projectLimit,
      keyLimit,
      nodeId: this.o.nodeId,
      staleBefore: isoSeconds(now - (this.o.staleNodeMs ?? 60_000)),
      now: isoSeconds(now),
    });
    if ('refused' in result) {
      const limit = result.refused === 'key' ? keyLimit : projectLimit;
      this.refuse(
        'concurrent_runs',
        principal,
        result.refused,
        `already runs ${result.running} interactions (limit ${limit} at once)`,
        1,
      );
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        // A lease that cannot be dropped now is dropped when this node next restarts, or by the
        // stale sweep if it dies; a failure here must not fail the finished run.
        this.o.store.releaseRun(result.lease).catch(() => {});
      },
    };
  }
}
