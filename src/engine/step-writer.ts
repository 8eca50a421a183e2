import { createHmac } from 'node:crypto';
import type { Delta, JsonObject, Step, Usage } from '../protocol/types.js';
import type { InteractionLog } from '../store/event-log.js';

/**
 * Writes output steps as `step.start` / `step.delta` / `step.stop` events: one step open at a
 * time, indices 0..n-1, a step closed before the next one starts (spec §5.4).
 */
export class StepWriter {
  private index = -1;
  private open: Step['type'] | null = null;

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

  /** base64url(HMAC-SHA256(secret, interaction_id|index|type)) — spec §4.5. */
  signature(): string {
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
