import { z } from 'zod';

/**
 * Wire shapes of webhooks (spec §10.4; names from @google/genai's `Webhooks` namespace:
 * `WebhookInput`, `WebhookUpdate`, `Webhook`, `SigningSecret`, `RotateSigningSecretRequest`,
 * `WebhookListResponse`). The SDK's event and state enums are open strings; the server accepts
 * only the values it knows, so a typo is a 400 naming the field.
 */

/** Events this server emits: an interaction reaching one of these statuses. */
export const INTERACTION_EVENTS = [
  'interaction.completed',
  'interaction.failed',
  'interaction.requires_action',
  'interaction.cancelled',
] as const;
export type InteractionWebhookEvent = (typeof INTERACTION_EVENTS)[number];

/** Events the SDK names that this server never emits (it runs no batches or video jobs). */
const OTHER_GOOGLE_EVENTS = [
  'batch.succeeded',
  'batch.cancelled',
  'batch.expired',
  'batch.failed',
  'video.generated',
] as const;

export const WEBHOOK_EVENTS = [...INTERACTION_EVENTS, ...OTHER_GOOGLE_EVENTS] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The event type of a `:ping` delivery. */
export const PING_EVENT = 'webhook.ping';

export const WEBHOOK_STATES = ['enabled', 'disabled', 'disabled_due_to_failed_deliveries'] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

const eventList = z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(32);
const name = z.string().max(512);
const uri = z.string().min(1).max(2048);

export const webhookInputSchema = z.strictObject({
  name: name.optional(),
  uri,
  subscribed_events: eventList,
});
export type WebhookInput = z.infer<typeof webhookInputSchema>;

export const webhookUpdateSchema = z.strictObject({
  name: name.optional(),
  uri: uri.optional(),
  subscribed_events: eventList.optional(),
  state: z.enum(WEBHOOK_STATES).optional(),
});
export type WebhookUpdate = z.infer<typeof webhookUpdateSchema>;

export const REVOCATION_BEHAVIORS = [
  'revoke_previous_secrets_after_h24',
  'revoke_previous_secrets_immediately',
] as const;

export const rotateSigningSecretSchema = z.strictObject({
  revocation_behavior: z.enum(REVOCATION_BEHAVIORS).optional(),
});

export const signingSecretSchema = z.object({
  truncated_secret: z.string(),
  expire_time: z.string().optional(),
});

export const webhookResourceSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  uri: z.string(),
  subscribed_events: z.array(z.string()),
  state: z.enum(WEBHOOK_STATES),
  signing_secrets: z.array(signingSecretSchema),
  /** Only on create: the secret deliveries are signed with (shown once). */
  new_signing_secret: z.string().optional(),
  create_time: z.string(),
  update_time: z.string(),
});
export type WebhookResource = z.infer<typeof webhookResourceSchema>;

export const webhookListResponseSchema = z.object({
  webhooks: z.array(webhookResourceSchema),
  next_page_token: z.string().optional(),
});
export type WebhookListResponse = z.infer<typeof webhookListResponseSchema>;

export const rotateSigningSecretResponseSchema = z.object({ secret: z.string() });

/**
 * The JSON body of a delivery. Google does not document its payload; this follows the Standard
 * Webhooks recommendation (`type`, `timestamp`, `data`), `data` naming the interaction.
 */
export const webhookPayloadSchema = z.object({
  type: z.string(),
  timestamp: z.string(),
  data: z.looseObject({}),
});
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;
