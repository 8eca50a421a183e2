/**
 * The playground page in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a real server and a scripted upstream: what a person sees. Chromium missing → the test
 * fails (CI installs it). On failure a screenshot goes to .tmp/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { KEY_A, startHarness, type Harness } from '../support/harness.js';
import type { BuiltInTool } from '../../src/tools/types.js';
import { lastUserText, type UpstreamScript } from '../support/fake-upstream.js';
import { startFileSearchHarness, type FileSearchHarness } from '../support/file-search.js';

const CHROMIUM = process.env.OI_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** A scripted google_search: one source, cited by the answer. */
const scriptedSearch: BuiltInTool = {
  type: 'google_search',
  async open() {
    return {
      type: 'google_search',
      steps: { call: 'google_search_call', result: 'google_search_result' },
      declarations: [
        {
          name: 'google_search',
          description: 'Searches the web.',
          parameters: {
            type: 'object',
            properties: { queries: { type: 'array', items: { type: 'string' } } },
          },
        },
      ],
      citationMarkers: true,
      async execute(_name, args) {
        return {
          call: { arguments: args },
          result: { result: [{ search_suggestions: 'capital of France' }] },
          modelOutput: '[1] Paris facts: Paris is the capital of France.',
          sources: [{ url: 'https://example.org/paris', title: 'Paris facts' }],
        };
      },
    };
  },
};

const script: UpstreamScript = (body) => {
  const said = lastUserText(body);
  if (said === 'search it') {
    return body.messages.some((m) => m.role === 'tool')
      ? { text: ['Paris is the capital of France [1].'] }
      : { toolCalls: [{ name: 'google_search', arguments: '{"queries":["capital of France"]}' }] };
  }
  return {
    reasoning: ['Thinking about ', `"${said}"`],
    text: ['You said: ', said],
    delayMs: 30,
    usage: { prompt_tokens: 11, completion_tokens: 4, reasoning_tokens: 3 },
  };
};

describe('the playground at /', () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`);
    h = await startHarness({ store: 'sqlite', script, tools: [scriptedSearch] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  const screenshotOnFailure = (name: string) =>
    onTestFailed(async () => {
      mkdirSync('.tmp', { recursive: true });
      const path = `.tmp/playground-${name}.png`;
      await page.screenshot({ path, fullPage: true });
      console.error(`screenshot of the failed playground test: ${path}`);
    });

  /** Opens the page with key A entered (each test stands alone). */
  async function open(): Promise<void> {
    await page.goto(`${h.baseUrl}/`);
    await page.fill('#api-key', KEY_A);
    await page.dispatchEvent('#api-key', 'change');
  }

  async function say(text: string): Promise<void> {
    const before = await page.locator('.turn .status').count();
    await page.fill('#prompt', text);
    await page.click('#send');
    // Answered (a status line) or refused (the error line): whichever comes first.
    await page.locator('.turn .status, #error:not(:empty)').nth(before).waitFor();
  }

  it('is served as a page with its script and style, under a strict CSP', async () => {
    const res = await fetch(`${h.baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('<script type="module" src="/playground/playground.js">');
    expect((await fetch(`${h.baseUrl}/playground/playground.js`)).status).toBe(200);
    expect((await fetch(`${h.baseUrl}/playground/../package.json`)).status).toBe(404);
  });

  it('chats with streaming: thoughts and the answer appear as steps, with the usage; the key stays in localStorage', async () => {
    screenshotOnFailure('chat');
    await page.goto(`${h.baseUrl}/`);
    await page.fill('#api-key', KEY_A);
    await page.dispatchEvent('#api-key', 'change');
    await say('hello playground');
    const turn = page.locator('.turn').nth(0);
    expect(await turn.locator('.user').textContent()).toBe('hello playground');
    expect(await turn.locator('.step.thought .body').textContent()).toBe(
      'Thinking about "hello playground"',
    );
    expect(await turn.locator('.step.model_output .body').textContent()).toBe(
      'You said: hello playground',
    );
    const status = await turn.locator('.status').textContent();
    expect(status).toMatch(
      /^completed · input 11 · output 4 · thought 3 · cached 0 · total 18 · \S+$/,
    );
    expect(await page.locator('#usage').textContent()).toContain('total 18');
    expect(
      await page.evaluate(() => localStorage.getItem('open-interactions.playground.api-key')),
    ).toBe(KEY_A);
    // After a reload the key is still there, and only in this browser (the server keeps no session).
    await page.reload();
    expect(await page.inputValue('#api-key')).toBe(KEY_A);
  });

  it('shows the answer while it streams (the upstream pauses mid-answer)', async () => {
    screenshotOnFailure('streaming');
    await open();
    const held = h.upstream.requests.length;
    h.upstream.script = (body, index) => ({ ...script(body, index), holdAfterChunks: 4 });
    try {
      await page.fill('#prompt', 'slowly');
      await page.click('#send');
      await h.upstream.waitForHeld(1);
      const output = page.locator('.turn .step.model_output .body');
      await output.filter({ hasText: 'You said:' }).waitFor();
      expect(await output.textContent()).toBe('You said: ');
      expect(await page.locator('.turn .status').count()).toBe(0);
      expect(await page.locator('.turn .meta').textContent()).toBe('running…');
      h.upstream.release();
      await page.locator('.turn .status').waitFor();
      expect(await output.textContent()).toBe('You said: slowly');
      expect(h.upstream.requests.length).toBe(held + 1);
    } finally {
      h.upstream.script = script;
      h.upstream.release();
    }
  });

  it('continues a conversation, and branches from an earlier turn (previous_interaction_id)', async () => {
    screenshotOnFailure('branch');
    await open();
    await say('first');
    await say('second');
    const firstId = await page.locator('.turn').nth(0).getAttribute('data-interaction-id');
    const secondId = await page.locator('.turn').nth(1).getAttribute('data-interaction-id');
    expect(await page.locator('#previous').textContent()).toBe(secondId);
    const continued = h.upstream.requests.at(-1)!;
    expect(JSON.stringify(continued.messages)).toContain('first');

    await page.locator('.turn').nth(0).locator('button.branch').click();
    expect(await page.locator('#previous').textContent()).toBe(firstId);
    await say('third, branched');
    const branched = JSON.stringify(h.upstream.requests.at(-1)!.messages);
    expect(branched).toContain('first');
    expect(branched).not.toContain('second');
    const got = await h.fetch(
      `/v1beta/interactions/${await page.locator('.turn').nth(2).getAttribute('data-interaction-id')}`,
    );
    expect(
      ((await got.json()) as { previous_interaction_id: string }).previous_interaction_id,
    ).toBe(firstId);
  });

  it('with google_search switched on: the tool call, its result and the cited answer appear as steps', async () => {
    screenshotOnFailure('tools');
    await open();
    await page.check('#tools input[value="google_search"]');
    await say('search it');
    const turn = page.locator('.turn').last();
    const kinds = await turn
      .locator('.step')
      .evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.type));
    expect(kinds.filter((k) => k !== 'thought')).toEqual([
      'google_search_call',
      'google_search_result',
      'model_output',
    ]);
    expect(
      await turn.locator('.step[data-type="google_search_call"] .body').textContent(),
    ).toContain('capital of France');
    expect(
      await turn.locator('.step[data-type="google_search_result"] .body').textContent(),
    ).toContain('search_suggestions');
    const answer = turn.locator('.step.model_output');
    expect(await answer.locator('.body').textContent()).toContain('Paris is the capital of France');
    const link = answer.locator('.citations a');
    expect(await link.textContent()).toBe('Paris facts');
    expect(await link.getAttribute('href')).toBe('https://example.org/paris');
    expect(JSON.stringify(h.upstream.requests.at(-2)!.tools)).toContain('google_search');
  });

  it("a built-in tool the server does not offer: the page shows the server's error", async () => {
    screenshotOnFailure('tools-error');
    await open();
    await page.check('#tools input[value="google_maps"]');
    await page.fill('#prompt', 'fetch something');
    await page.click('#send');
    await page.locator('#error').filter({ hasText: 'google_maps' }).waitFor();
    expect(await page.locator('#error').textContent()).toContain(
      "built-in tool 'google_maps' is not configured on this server",
    );
  });

  it('a wrong key: the page shows the 401 message', async () => {
    screenshotOnFailure('wrong-key');
    await open();
    await page.fill('#api-key', 'not-a-valid-key');
    await page.dispatchEvent('#api-key', 'change');
    await page.fill('#prompt', 'hello');
    await page.click('#send');
    await page.locator('#error').filter({ hasText: 'API key' }).waitFor();
    expect(await page.locator('#error').textContent()).toBe('x-goog-api-key: API key not valid');
  });
});

describe('the playground uploads a file for file search', () => {
  let fs: FileSearchHarness;
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`);
    fs = await startFileSearchHarness('sqlite');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await fs?.close();
  });

  it('creates a File Search store, uploads the chosen file into it, and switches file_search on', async () => {
    const page = await browser.newPage();
    onTestFailed(async () => {
      mkdirSync('.tmp', { recursive: true });
      await page.screenshot({ path: '.tmp/playground-upload.png', fullPage: true });
      console.error('screenshot of the failed playground test: .tmp/playground-upload.png');
    });
    await page.goto(`${fs.h.baseUrl}/`);
    await page.fill('#api-key', KEY_A);
    await page.dispatchEvent('#api-key', 'change');
    await page.setInputFiles('#file', {
      name: 'handbook.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('Holidays: every employee has 30 days of leave per year.'),
    });
    await page.click('#upload');
    const status = page.locator('#upload-status');
    await status.filter({ hasText: /uploaded|failed/ }).waitFor();
    const text = (await status.textContent())!;
    expect(text).toMatch(/^uploaded handbook\.txt to fileSearchStores\/\S+$/);
    expect(await page.isChecked('#tools input[value="file_search"]')).toBe(true);
    const store = text.split(' to ')[1]!;
    const docs = await fs.h.fetch(`/v1beta/${store}/documents`);
    expect(docs.status).toBe(200);
    const body = (await docs.json()) as { documents?: { displayName?: string }[] };
    expect(body.documents?.map((d) => d.displayName)).toEqual(['handbook.txt']);
  });
});
