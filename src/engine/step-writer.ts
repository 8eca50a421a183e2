import { createHmac } from 'node:crypto';
import type { SharedV3ProviderMetadata } from '@ai-sdk/provider';
import type { Delta, JsonObject, Step, Usage } from '../protocol/types.js';
import type { InteractionLog } from '../store/event-log.js';
import type { ToolSource } from '../tools/types.js';
import { CitationMarkerFilter } from './citation-markers.js';
import { citationsFor } from './citations.js';
import { encodeProviderSignature, mergeProviderMetadata } from './provider-signature.js';

export interface StepWriterOptions {
  /** `thinking_summaries: auto`: a thought step shows its reasoning as one summary item. */
  summaries: boolean;
  /**
   * Set when a tool of the run asks the model to cite with `[n]` markers: the markers are then
   * removed from the text as it streams and become annotations over the clean text, resolved
   * against the sources the run's tools returned so far (numbered from 1).
   */
  citationSources?: () => readonly ToolSource[];
  /** Called when the first step starts (time-to-first-step metric). */
  onFirstStep?: () => void;
}

/**
 * Writes output steps as `step.start` / `step.delta` / `step.stop` events: one step open at a
 * time, indices 0..n-1, a step closed before the next one starts (spec §5.4). Closing a step
 * finishes it: a thought gets its summary (one item per thought, however many chunks the
 * reasoning came in) and then its signature; a model_output gets the text held back by the
 * citation-marker filter and then its annotations.
 */
export class StepWriter {
  private index = -1;
  private open: Step['type'] | null = null;
  /** Provider metadata of the open thought (e.g. Anthropic's signature), kept in its signature. */
  private thoughtMetadata: SharedV3ProviderMetadata | undefined;
  /** Reasoning text of the open thought. */
  private reasoningText = '';
  /** Citation markers of the open model_output. */
  private markers: CitationMarkerFilter | undefined;

  constructor(
    private readonly log: InteractionLog,
    private readonly signatureSecret: string,
    private readonly options: StepWriterOptions,
  ) {}

  get openType(): Step['type'] | null {
    return this.open;
  }

  get stepCount(): number {
    return this.index + 1;
  }

  /** A run taken over by this node: its next step follows the `count` steps already stored. */
  continueAfter(count: number): void {
    this.index = count - 1;
    this.open = null;
  }

  /** Resolves once every event written so far is stored; rejects if the log fails first. */
  whenStored(): Promise<void> {
    const log = this.log;
    const target = log.events.length;
    if (log.durableSeq >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const unsubscribe = log.subscribe(
        log.durableSeq,
        (event) => {
          if (event.seq < target) return;
          unsubscribe();
          resolve();
        },
        (failure) => reject(new Error(failure.error.message)),
      );
    });
  }

  start(step: Step): number {
    this.stop();
    if (this.index === -1) this.options.onFirstStep?.();
    this.index += 1;
    this.open = step.type;
    this.thoughtMetadata = undefined;
    this.reasoningText = '';
    this.markers =
      step.type === 'model_output' && this.options.citationSources
        ? new CitationMarkerFilter()
        : undefined;
    this.log.append({ event_type: 'step.start', index: this.index, step });
    return this.index;
  }

  delta(delta: Delta): void {
    if (this.open === null) throw new Error('step.delta without an open step');
    this.log.append({ event_type: 'step.delta', index: this.index, delta });
  }

  /** Finishes the open step (see the class comment) and closes it. */
  stop(usage?: Usage): void {
    if (this.open === null) return;
    if (this.open === 'thought') {
      this.flushSummary();
      // Some providers end reasoning only after the next block began: a thought closed by the
      // next step still gets its signature (spec §5.4: the last delta before step.stop).
      this.delta({ type: 'thought_signature', signature: this.signature() });
    } else if (this.open === 'model_output' && this.markers) {
      this.flushText();
      const annotations = citationsFor(
        this.markers.text,
        this.markers.marks,
        this.options.citationSources?.() ?? [],
      );
      if (annotations.length > 0)
        this.delta({ type: 'text_annotation_delta', annotations: annotations as never });
    }
    this.log.append({ event_type: 'step.stop', index: this.index, ...(usage ? { usage } : {}) });
    this.open = null;
  }

  /**
   * Leaves an open step without step.stop (failure/cancel paths: the fold keeps its partial
   * content, including text and reasoning that were still held back).
   */
  abandon(): void {
    if (this.open === 'thought') this.flushSummary();
    if (this.open === 'model_output') this.flushText();
    this.open = null;
  }

  noteThoughtMetadata(metadata: SharedV3ProviderMetadata | undefined): void {
    if (this.open === 'thought')
      this.thoughtMetadata = mergeProviderMetadata(this.thoughtMetadata, metadata);
  }

  /**
   * A thought that carries provider metadata gets it encoded (so it can be replayed to the
   * provider; without a summary the reasoning text rides along, since a signed reasoning block
   * must be replayed verbatim); otherwise base64url(HMAC-SHA256(secret, interaction_id|index|type))
   * — spec §4.5.
   */
  signature(): string {
    if (this.open === 'thought' && this.thoughtMetadata)
      return encodeProviderSignature(
        this.thoughtMetadata,
        this.options.summaries ? undefined : this.reasoningText,
      );
    return createHmac('sha256', this.signatureSecret)
      .update(`${this.log.id}|${this.index}|${this.open ?? ''}`)
      .digest('base64url');
  }

  text(text: string): void {
    if (this.open !== 'model_output') this.start({ type: 'model_output' });
    const clean = this.markers ? this.markers.push(text) : text;
    if (clean) this.delta({ type: 'text', text: clean });
  }

  /** Reasoning of the open thought (a new thought step if none is open). */
  reasoning(text: string): void {
    if (this.open !== 'thought') this.start({ type: 'thought' });
    this.reasoningText += text;
  }

  functionCall(id: string, name: string): void {
    this.start({ type: 'function_call', id, name, arguments: {} as JsonObject });
  }

  private flushSummary(): void {
    if (this.options.summaries && this.reasoningText.trim() !== '') {
      this.delta({ type: 'thought_summary', content: { type: 'text', text: this.reasoningText } });
    }
  }

  private flushText(): void {
    const rest = this.markers?.end();
    if (rest) this.delta({ type: 'text', text: rest });
  }
}
