import { randomBytes } from 'node:crypto';
import { checkUrl, UnsafeUrlError, type AddressPolicy } from '../net/address-policy.js';
import { invalid, notFound } from '../protocol/errors.js';
import { clip, parseWith } from '../protocol/validate.js';
import {
  PING_EVENT,
  rotateSigningSecretSchema,
  webhookInputSchema,
  webhookUpdateSchema,
  type WebhookListResponse,
  type WebhookResource,
} from '../protocol/webhooks.js';
import type { ListCursor } from '../store/newest-first.js';
import type { StoredSecret, WebhookRecord, WebhookStore } from '../store/webhook-store.js';
import type { WebhookDispatcher } from './dispatcher.js';
import { newSigningSecret, truncateSecret, type SecretSealer } from './secrets.js';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
/** `revoke_previous_secrets_after_h24`: how long a replaced secret keeps signing. */
const PREVIOUS_SECRET_MS = 24 * 3_600_000;
const UPDATABLE = ['name', 'uri', 'subscribed_events', 'state'] as const;

export interface WebhookServiceOptions {
  store: WebhookStore;
  dispatcher: WebhookDispatcher;
  sealer: SecretSealer;
  policy: AddressPolicy;
  clock?: () => number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function newWebhookId(): string {
  return `wh_${randomBytes(12).toString('hex')}`;
}

function encodeCursor(c: ListCursor): string {
  return Buffer.from(JSON.stringify([c.createTime, c.id])).toString('base64url');
}

function decodeCursor(token: string): ListCursor {
  try {
    const [createTime, id] = JSON.parse(
      Buffer.from(token, 'base64url').toString('utf8'),
    ) as unknown[];
    if (typeof createTime === 'string' && typeof id === 'string') return { createTime, id };
  } catch {
    // not ours: reported below
  }
  throw invalid(`page_token: '${clip(token)}' is not a page token this server issued`);
}

/**
 * Checks a webhook target under the outbound address policy (the url_context one), resolving
 * its host: a 400 naming `field` when refused. Deliveries check again (DNS may change).
 */
export async function checkWebhookUri(
  uri: string,
  field: string,
  policy: AddressPolicy,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalid(`${field}: '${clip(uri)}' is not a valid URL`);
  }
  try {
    await checkUrl(url, policy);
  } catch (err) {
    if (err instanceof UnsafeUrlError) throw invalid(`${field}: ${err.message}`);
    throw invalid(`${field}: could not resolve ${url.hostname}: ${(err as Error).message}`);
  }
}

/** The `/webhooks` resource (spec §10.4): per project; another project's webhook is a 404. */
export class WebhookService {
  private readonly now: () => number;

  constructor(private readonly o: WebhookServiceOptions) {
    this.now = o.clock ?? Date.now;
  }

  async create(project: string, body: unknown): Promise<WebhookResource> {
    if (!isObject(body)) throw invalid('body: a JSON object is required');
    const input = parseWith(webhookInputSchema, body);
    await checkWebhookUri(input.uri, 'uri', this.o.policy);
    const now = new Date(this.now()).toISOString();
    const secret = newSigningSecret();
    const record: WebhookRecord = {
      id: newWebhookId(),
      project,
      name: input.name ?? null,
      uri: input.uri,
      subscribedEvents: [...new Set(input.subscribed_events)],
      state: 'enabled',
      secrets: [this.storedSecret(secret, now)],
      failures: 0,
      createTime: now,
      updateTime: now,
    };
    await this.o.store.create(record);
    return { ...toResource(record), new_signing_secret: secret };
  }

  async list(project: string, pageSize?: number, pageToken?: string): Promise<WebhookListResponse> {
    const size = Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const rows = await this.o.store.list(
      project,
      size + 1,
      pageToken ? decodeCursor(pageToken) : undefined,
    );
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      webhooks: page.map(toResource),
      ...(rows.length > size && last
        ? { next_page_token: encodeCursor({ createTime: last.createTime, id: last.id }) }
        : {}),
    };
  }

  async get(project: string, id: string): Promise<WebhookResource> {
    return toResource(await this.find(project, id));
  }

  async update(
    project: string,
    id: string,
    body: unknown,
    updateMask: string | undefined,
  ): Promise<WebhookResource> {
    if (!isObject(body)) throw invalid('body: a JSON object is required');
    const patch = parseWith(webhookUpdateSchema, body);
    let fields: string[];
    if (updateMask !== undefined && updateMask.trim() !== '') {
      fields = updateMask.split(',').map((f) => f.trim());
      const unknown = fields.find((f) => !(UPDATABLE as readonly string[]).includes(f));
      if (unknown !== undefined) {
        throw invalid(
          `update_mask: '${clip(unknown)}' is not a field that can be updated (${UPDATABLE.join(', ')})`,
        );
      }
    } else {
      fields = UPDATABLE.filter((f) => patch[f] !== undefined);
    }
    const record = await this.find(project, id);
    for (const field of fields) {
      const value = patch[field as (typeof UPDATABLE)[number]];
      if (field === 'name') record.name = (value as string | undefined) ?? null;
      else if (value === undefined) throw invalid(`${field}: required by update_mask`);
      else if (field === 'uri') {
        await checkWebhookUri(value as string, 'uri', this.o.policy);
        record.uri = value as string;
      } else if (field === 'subscribed_events') {
        record.subscribedEvents = [...new Set(value as string[])];
      } else if (field === 'state') {
        // Re-enabling starts the failure count afresh.
        if (value === 'enabled' && record.state !== 'enabled') record.failures = 0;
        record.state = value as string;
      }
    }
    record.updateTime = new Date(this.now()).toISOString();
    if (!(await this.o.store.save(record))) throw this.missing(id);
    return toResource(record);
  }

  async delete(project: string, id: string): Promise<void> {
    if (!(await this.o.store.delete(project, id))) throw this.missing(id);
  }

  /**
   * A new signing secret. With `revoke_previous_secrets_after_h24` (the default) the previous
   * ones keep signing for 24 hours (deliveries carry one signature per secret); with
   * `revoke_previous_secrets_immediately` they are dropped now.
   */
  async rotateSigningSecret(
    project: string,
    id: string,
    body: unknown,
  ): Promise<{ secret: string }> {
    const request = parseWith(rotateSigningSecretSchema, isObject(body) ? body : {});
    const record = await this.find(project, id);
    const nowMs = this.now();
    const now = new Date(nowMs).toISOString();
    const expire = new Date(nowMs + PREVIOUS_SECRET_MS).toISOString();
    const kept =
      request.revocation_behavior === 'revoke_previous_secrets_immediately'
        ? []
        : record.secrets
            .filter((s) => !s.expire_time || Date.parse(s.expire_time) > nowMs)
            .map((s) => ({
              ...s,
              expire_time: s.expire_time && s.expire_time < expire ? s.expire_time : expire,
            }));
    const secret = newSigningSecret();
    record.secrets = [this.storedSecret(secret, now), ...kept];
    record.updateTime = now;
    if (!(await this.o.store.save(record))) throw this.missing(id);
    return { secret };
  }

  /** Queues a `webhook.ping` delivery to the webhook (whatever its events or state). */
  async ping(project: string, id: string): Promise<Record<string, never>> {
    const record = await this.find(project, id);
    const { dispatcher } = this.o;
    const now = new Date(this.now()).toISOString();
    const payload = JSON.stringify({ type: PING_EVENT, timestamp: now, data: { webhook_id: id } });
    await dispatcher.enqueue([
      dispatcher.newDelivery({
        eventId: `ping_${randomBytes(12).toString('hex')}`,
        project,
        target: record.id,
        webhookId: record.id,
        uri: record.uri,
        payload,
      }),
    ]);
    return {};
  }

  private storedSecret(secret: string, created: string): StoredSecret {
    return { sealed: this.o.sealer.seal(secret), truncated: truncateSecret(secret), created };
  }

  private async find(project: string, id: string): Promise<WebhookRecord> {
    const record = await this.o.store.get(project, id);
    if (!record) throw this.missing(id);
    return record;
  }

  private missing(id: string) {
    return notFound(`webhook '${clip(id)}' not found`);
  }
}

function toResource(r: WebhookRecord): WebhookResource {
  return {
    id: r.id,
    ...(r.name !== null ? { name: r.name } : {}),
    uri: r.uri,
    subscribed_events: r.subscribedEvents,
    state: r.state as WebhookResource['state'],
    signing_secrets: r.secrets.map((s) => ({
      truncated_secret: s.truncated,
      ...(s.expire_time ? { expire_time: s.expire_time } : {}),
    })),
    create_time: r.createTime,
    update_time: r.updateTime,
  };
}
