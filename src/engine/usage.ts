import type { LanguageModelV3Usage } from '@ai-sdk/provider';
import type { Usage } from '../protocol/types.js';

/** Sums the usage of every model call of one interaction (tool loops make several). */
export class UsageMeter {
  private input = 0;
  private output = 0;
  private thought = 0;
  private cached = 0;
  private counted = false;
  private readonly grounding = new Map<string, number>();

  /** Counts a grounding tool invocation (search, maps, retrieval) for `grounding_tool_count`. */
  countTool(type: string): void {
    if (type === 'google_search' || type === 'google_maps' || type === 'retrieval') {
      this.grounding.set(type, (this.grounding.get(type) ?? 0) + 1);
    }
  }

  add(usage: LanguageModelV3Usage | undefined): void {
    if (!usage) return;
    const reasoning = usage.outputTokens.reasoning ?? 0;
    const outputTotal = usage.outputTokens.total ?? 0;
    this.input += usage.inputTokens.total ?? 0;
    this.cached += usage.inputTokens.cacheRead ?? 0;
    this.thought += reasoning;
    this.output += usage.outputTokens.text ?? Math.max(0, outputTotal - reasoning);
    this.counted ||=
      usage.inputTokens.total !== undefined || usage.outputTokens.total !== undefined;
  }

  /** Tokens of every call so far, counted like `total_tokens` (budgets compare against it). */
  get totalTokens(): number {
    return this.input + this.output + this.thought;
  }

  /** The wire `Usage`; total_tokens = input + output + thought, as in Google's responses. */
  toUsage(): Usage | undefined {
    if (!this.counted) return undefined;
    return {
      total_input_tokens: this.input,
      total_output_tokens: this.output,
      total_thought_tokens: this.thought,
      total_cached_tokens: this.cached,
      total_tool_use_tokens: 0,
      total_tokens: this.input + this.output + this.thought,
      input_tokens_by_modality: [{ modality: 'text', tokens: this.input }],
      ...(this.grounding.size > 0
        ? { grounding_tool_count: [...this.grounding].map(([type, count]) => ({ type, count })) }
        : {}),
    };
  }
}
