import { createHmac } from 'node:crypto';
import type { SharedV3ProviderMetadata } from '@ai-sdk/provider';
import type { Delta, JsonObject, Step, Usage } from '../protocol/types.js';
import type { InteractionLog } from '../store/event-log.js';
import { encodeProviderSignature, mergeProviderMetadata } from './provider-signature.js';

/**
 * Writes output steps as `step.start` / `step.delta` / `step.stop` events: one step open at a
 * time, indices 0..n-1, a step closed before the next one starts (spec §5.4).
 */
export class StepWriter {
  private index = -1;
  private open: Step['type'] | null = null;
  /** Provider metadata of the open thought (e.g. Anthropic's signature), kept in its signature. */
  private thoughtMetadata: SharedV3ProviderMetadata | undefined;

  constructor(
    private readonly log: InteractionLog,
    private readonly signatureSecret: string,
  ) {}

  get openType(): Step['type'] | null {
    return this.open;
  }

  get stepCount(): number {
    return this.index + 1;
  }

  start(step: Step): number {
    // Some providers end reasoning only after the next block began: a thought closed by the
    // next step still gets its signature (spec §5.4: the last delta before step.stop).
    if (this.open === 'thought')
      this.delta({ type: 'thought_signature', signature: this.signature() });
    this.stop();
    this.index += 1;
    this.open = step.type;
    this.thoughtMetadata = undefined;
    this.log.append({ event_type: 'step.start', index: this.index, step });
    return this.index;
  }

  delta(delta: Delta): void {
    if (this.open === null) throw new Error('step.delta without an open step');
    this.log.append({ event_type: 'step.delta', index: this.index, delta });
  }

  stop(usage?: Usage): void {
    if (this.open === null) return;
    this.log.append({ event_type: 'step.stop', index: this.index, ...(usage ? { usage } : {}) });
    this.open = null;
  }

  /** Leaves an open step as it is (failure/cancel paths: the fold keeps its partial content). */
  abandon(): void {
    this.open = null;
  }

  noteThoughtMetadata(metadata: SharedV3ProviderMetadata | undefined): void {
    if (this.open === 'thought')
      this.thoughtMetadata = mergeProviderMetadata(this.thoughtMetadata, metadata);
  }

  /**
   * A thought that carries provider metadata gets it encoded (so it can be replayed to the
   * provider); otherwise base64url(HMAC-SHA256(secret, interaction_id|index|type)) — spec §4.5.
   */
  signature(): string {
    if (this.open === 'thought' && this.thoughtMetadata)
      return encodeProviderSignature(this.thoughtMetadata);
    return createHmac('sha256', this.signatureSecret)
      .update(`${this.log.id}|${this.index}|${this.open ?? ''}`)
      .digest('base64url');
  }

  text(text: string): void {
    if (this.open !== 'model_output') this.start({ type: 'model_output' });
    if (text) this.delta({ type: 'text', text });
  }

  functionCall(id: string, name: string): void {
    this.start({ type: 'function_call', id, name, arguments: {} as JsonObject });
  }
}
