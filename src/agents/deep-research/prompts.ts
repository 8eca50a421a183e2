/**
 * The instructions of the deep-research recipe, one per phase. Each opens with its phase heading
 * (a scripted test model recognises the phase by it); the agent's and the request's own
 * instructions follow under "Instructions".
 */

export const PHASE_HEADINGS = {
  plan: 'Deep research, phase 1 of 3: plan.',
  research: 'Deep research, phase 2 of 3: research.',
  report: 'Deep research, phase 3 of 3: report.',
} as const;

export type Phase = keyof typeof PHASE_HEADINGS;

/** Which tools the run has (the instructions mention only those). */
export interface ToolSet {
  search: boolean;
  read: boolean;
  code: boolean;
  files: boolean;
}

const withInstructions = (parts: string[], instructions?: string) =>
  [...parts, ...(instructions ? ['Instructions:', instructions] : [])].join('\n\n');

export function planPrompt(o: { collaborative: boolean; instructions?: string }): string {
  return withInstructions(
    [
      PHASE_HEADINGS.plan,
      'You are a research agent. Write a short numbered research plan for the request: the ' +
        'questions to answer, what to search for, which kinds of sources to read and any ' +
        'figures to calculate. Do not answer the request yet.',
      'If the conversation already holds a plan and the user replied to it, revise the plan ' +
        'as the user asked.',
      ...(o.collaborative
        ? [
            'The user reviews the plan before any research starts: present it and ask them to ' +
              'confirm it or say what to change.',
          ]
        : []),
    ],
    o.instructions,
  );
}

export function researchPrompt(o: { plan: string; tools: ToolSet; instructions?: string }): string {
  const how = [
    o.tools.search && 'search the web with google_search (several focused queries per call)',
    o.tools.read && 'read the most relevant pages in full with url_context',
    o.tools.files && "search the user's documents with file_search",
    o.tools.code && 'run any calculation with code_execution instead of doing it in your head',
  ].filter((s): s is string => typeof s === 'string');
  return withInstructions(
    [
      PHASE_HEADINGS.research,
      `Carry out the research plan below. ${how.length > 0 ? `Use your tools: ${how.join('; ')}.` : ''}`.trim(),
      'Work in rounds: refine your queries as you learn, follow up on gaps and on sources that ' +
        'disagree. When the evidence covers the plan, stop calling tools and reply with a short ' +
        'list of your findings.',
      `Research plan:\n${o.plan.trim() || '(no plan was written: cover the request itself)'}`,
    ],
    o.instructions,
  );
}

export interface ListedSource {
  number: number;
  url: string;
  title?: string;
  read: boolean;
}

export function reportPrompt(o: {
  sources: ListedSource[];
  visualization: 'auto' | 'off';
  instructions?: string;
}): string {
  const list =
    o.sources.length > 0
      ? o.sources
          .map(
            (s) => `[${s.number}] ${s.title ?? s.url} — ${s.url}${s.read ? ' (read in full)' : ''}`,
          )
          .join('\n')
      : '(none: the research found no sources)';
  return withInstructions(
    [
      PHASE_HEADINGS.report,
      'Write the final report for the request from the research above, in Markdown: a title, ' +
        'an executive summary, sections with the findings, and a conclusion.',
      'Every factual claim carries its source as a marker like [3] at the end of its sentence, ' +
        'using only the numbers of the source list below. Cite nothing else and never invent ' +
        'a source; leave out a claim no source supports. Prefer sources that were read in full.',
      o.visualization === 'auto'
        ? 'Where figures compare, show them as a Markdown table (charts cannot be drawn here).'
        : 'Write prose only: no tables or charts.',
      `Sources:\n${list}`,
    ],
    o.instructions,
  );
}

export const WRITE_REPORT = 'Write the report now.';
