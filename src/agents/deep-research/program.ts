/**
 * The deep-research recipe: plan → search and read in rounds → a long report whose citations
 * point only at sources the run itself got.
 *
 * Why three phases with their own instructions rather than one tool loop: each phase wants the
 * model to do one thing (plan without answering, research without writing the report, write
 * without searching), and the report is written from a numbered list of the sources the tools
 * returned. The `[n]` markers it writes become `url_citation` annotations through the engine's
 * step writer, which resolves them against those same sources and drops any other — so every
 * citation names a page the run fetched or a search result it got. Everything but the report
 * (plan, research notes, the model's reasoning) is written as thought steps: with
 * `thinking_summaries: auto` their summaries stream as progress; the report is the one
 * `model_output`, so `output_text` is the report. With `collaborative_planning` the plan is the
 * answer of the first turn and research starts at the next turn (`previous_interaction_id`).
 *
 * Limits: research stops at `maxRounds`, or at three quarters of the token budget or of the wall
 * time, and the report is written from what was found; the engine's deadline (`maxSeconds`) and
 * cancellation stop the run anywhere.
 */
import type { LanguageModelV3Prompt, LanguageModelV3ToolChoice } from '@ai-sdk/provider';
import type { AgentProgram, RunContext } from '../../engine/agent-run.js';
import { BackendFault } from '../../engine/errors.js';
import { runModelRound, type RoundResult } from '../../engine/model-round.js';
import { OutputFormatError } from '../../engine/structured-output.js';
import type { DeepResearchAgentConfig } from '../../protocol/agents.js';
import type { InteractionStatus } from '../../protocol/types.js';
import {
  WRITE_REPORT,
  planPrompt,
  reportPrompt,
  researchPrompt,
  type ListedSource,
  type ToolSet,
} from './prompts.js';

export interface DeepResearchSettings {
  config: DeepResearchAgentConfig;
  /** The agent's and the request's system instructions. */
  instructions?: string;
  maxRounds: number;
  maxSeconds?: number;
  maxTotalTokens?: number;
  maxOutputTokens?: number;
  thinkingLevel?: string;
}

/** Tools whose sources are documents read in full (not search results). */
const READING_TOOLS = new Set(['url_context', 'file_search']);
/** Research stops once this share of the time or token budget is spent (the rest is the report's). */
const RESEARCH_SHARE = 0.75;

type Message = LanguageModelV3Prompt[number];

const textOf = (outcome: RoundResult) =>
  outcome.assistantParts.map((p) => (p.type === 'text' ? p.text : '')).join('');

export function createDeepResearchProgram(settings: DeepResearchSettings): AgentProgram {
  return { run: (ctx) => new DeepResearchRun(ctx, settings).run() };
}

class DeepResearchRun {
  private readonly started = Date.now();
  /** URLs of sources that were read in full. */
  private readonly read = new Set<string>();

  constructor(
    private readonly ctx: RunContext,
    private readonly s: DeepResearchSettings,
  ) {}

  async run(): Promise<InteractionStatus> {
    const { ctx, s } = this;
    const base = ctx.prompt.filter((m) => m.role !== 'system');
    const collaborative = s.config.collaborative_planning === true;

    const planned = await this.call(
      [system(planPrompt({ collaborative, instructions: s.instructions })), ...base],
      { toolChoice: { type: 'none' }, progress: !collaborative },
    );
    if (collaborative) return planned.finishReason === 'length' ? 'incomplete' : 'completed';
    if (this.overBudget(1)) return this.budgetExceeded();

    const transcript = await this.research(base, textOf(planned));
    if (this.overBudget(1)) return this.budgetExceeded();

    const report = await this.call(
      [
        system(
          reportPrompt({
            sources: this.listSources(),
            visualization: s.config.visualization ?? 'auto',
            instructions: s.instructions,
          }),
        ),
        ...base,
        ...transcript,
        { role: 'user', content: [{ type: 'text', text: WRITE_REPORT }] },
      ],
      { toolChoice: { type: 'none' }, progress: false },
    );
    return report.finishReason === 'length' ? 'incomplete' : 'completed';
  }

  /** Research rounds; returns the messages they added (calls, results, the closing notes). */
  private async research(base: Message[], plan: string): Promise<Message[]> {
    const { ctx, s } = this;
    const tools = this.toolSet();
    const head = system(researchPrompt({ plan, tools, instructions: s.instructions }));
    const transcript: Message[] = [];
    for (let round = 1; ; round++) {
      const limit =
        round > s.maxRounds
          ? `${s.maxRounds} research rounds`
          : this.overBudget(RESEARCH_SHARE)
            ? 'three quarters of the token budget'
            : this.late(RESEARCH_SHARE)
              ? 'three quarters of the time limit'
              : undefined;
      if (limit) {
        if (s.config.thinking_summaries === 'auto')
          this.progress(`Research stopped at ${limit}; writing the report from what was found.`);
        return transcript;
      }
      const outcome = await this.call([head, ...base, ...transcript], {
        // the first round must research; later rounds may end it
        toolChoice: { type: round === 1 ? 'required' : 'auto' },
        progress: true,
      });
      if (outcome.builtInCalls.length === 0) {
        if (outcome.assistantParts.length > 0)
          transcript.push({ role: 'assistant', content: outcome.assistantParts });
        return transcript;
      }
      const calls = [];
      const results = [];
      for (const call of outcome.builtInCalls) {
        const first = ctx.sources.length;
        const executed = await ctx.runBuiltInCalls([call]);
        if (READING_TOOLS.has(call.toolName))
          for (const source of ctx.sources.slice(first)) this.read.add(source.url);
        calls.push(...executed.calls);
        results.push(...executed.results);
      }
      transcript.push({ role: 'assistant', content: [...outcome.assistantParts, ...calls] });
      transcript.push({ role: 'tool', content: results });
    }
  }

  /** One model call; `progress`: its text is written as thought (not the answer). */
  private async call(
    prompt: Message[],
    o: { toolChoice: LanguageModelV3ToolChoice; progress: boolean },
  ): Promise<RoundResult> {
    const { ctx, s } = this;
    const tools = ctx.tools.length > 0 ? ctx.tools : undefined;
    const outcome = await runModelRound({
      model: ctx.model,
      writer: ctx.writer,
      meter: ctx.meter,
      signal: ctx.signal,
      isBuiltIn: ctx.isBuiltIn,
      onWarning: ctx.onWarning,
      textAsThought: o.progress,
      call: {
        prompt,
        maxOutputTokens: s.maxOutputTokens,
        tools,
        // tools are declared in every phase (a history with tool calls needs them on some
        // backends); only research may call them
        toolChoice: tools ? o.toolChoice : undefined,
        providerOptions: ctx.model.providerOptions({ thinkingLevel: s.thinkingLevel }),
        abortSignal: ctx.signal,
      },
    });
    if (outcome.finishReason === 'error')
      throw new BackendFault('failed', 'the model backend ended its answer with an error');
    if (outcome.functionCalls > 0)
      throw new OutputFormatError('the model called a function that is not one of its tools');
    ctx.writer.stop();
    return outcome;
  }

  private toolSet(): ToolSet {
    const has = (name: string) => this.ctx.isBuiltIn(name);
    return {
      search: has('google_search'),
      read: has('url_context'),
      code: has('code_execution'),
      files: has('file_search'),
    };
  }

  /** The sources the report may cite, by the numbers the tools gave them (first occurrence). */
  private listSources(): ListedSource[] {
    const seen = new Set<string>();
    const listed: ListedSource[] = [];
    this.ctx.sources.forEach((source, i) => {
      if (seen.has(source.url)) return;
      seen.add(source.url);
      listed.push({
        number: i + 1,
        url: source.url,
        ...(source.title ? { title: source.title } : {}),
        read: this.read.has(source.url),
      });
    });
    return listed;
  }

  private overBudget(share: number): boolean {
    const budget = this.s.maxTotalTokens;
    return budget !== undefined && this.ctx.meter.totalTokens >= budget * share;
  }

  private late(share: number): boolean {
    const seconds = this.s.maxSeconds;
    return seconds !== undefined && Date.now() - this.started >= seconds * 1000 * share;
  }

  private budgetExceeded(): InteractionStatus {
    this.ctx.errors.push({
      code: 'budget_exceeded',
      message: `the run used ${this.ctx.meter.totalTokens} tokens, over its budget of ${this.s.maxTotalTokens}`,
    });
    return 'budget_exceeded';
  }

  /** A line of progress, as a thought of its own with this summary. */
  private progress(text: string): void {
    this.ctx.writer.reasoning(text);
    this.ctx.writer.stop();
  }
}

const system = (content: string): Message => ({ role: 'system', content });
