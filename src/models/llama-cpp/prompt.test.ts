import { describe, expect, it } from 'vitest';
import { toChatHistory } from './prompt.js';

describe('toChatHistory', () => {
  it('maps system / user / assistant and appends the turn to generate', () => {
    const { history, warnings } = toChatHistory([
      { role: 'system', content: 'sys' },
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'hello' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
    ]);
    expect(warnings).toEqual([]);
    expect(history).toEqual([
      { type: 'system', text: 'sys' },
      { type: 'user', text: 'hi' },
      { type: 'model', response: ['hello'] },
      { type: 'user', text: 'a\nb' },
      { type: 'model', response: [] },
    ]);
  });

  it('folds tool calls and their results into one model turn, which is continued', () => {
    const { history } = toChatHistory(
      [
        { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'I should call the tool' },
            { type: 'text', text: 'Let me check.' },
            {
              type: 'tool-call',
              toolCallId: 'c1',
              toolName: 'get_weather',
              input: { city: 'Paris' },
            },
            { type: 'tool-call', toolCallId: 'c2', toolName: 'get_time', input: '{"tz":"CET"}' },
          ],
        },
        {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: 'c2',
              toolName: 'get_time',
              output: { type: 'text', value: '12:00' },
            },
            {
              type: 'tool-result',
              toolCallId: 'c1',
              toolName: 'get_weather',
              output: { type: 'json', value: { t: 21 } },
            },
          ],
        },
      ],
      (id) => (id === 'c1' ? ['raw call text'] : undefined),
    );
    expect(history).toEqual([
      { type: 'user', text: 'weather?' },
      {
        type: 'model',
        response: [
          { type: 'segment', segmentType: 'thought', text: 'I should call the tool', ended: true },
          'Let me check.',
          {
            type: 'functionCall',
            name: 'get_weather',
            params: { city: 'Paris' },
            result: { t: 21 },
            rawCall: ['raw call text'],
          },
          { type: 'functionCall', name: 'get_time', params: { tz: 'CET' }, result: '12:00' },
        ],
      },
    ]);
  });

  it('uses rawCall from providerOptions', () => {
    const { history } = toChatHistory([
      { role: 'user', content: [{ type: 'text', text: 'x' }] },
      {
        role: 'assistant',
        content: [
          {
            type: 'tool-call',
            toolCallId: 'c1',
            toolName: 'f',
            input: {},
            providerOptions: { 'llama-cpp': { rawCall: ['from options'] } },
          },
        ],
      },
      {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: 'c1',
            toolName: 'f',
            output: { type: 'error-text', value: 'boom' },
          },
        ],
      },
    ]);
    const model = history[1];
    expect(model?.type === 'model' && model.response[0]).toMatchObject({
      rawCall: ['from options'],
      result: { error: 'boom' },
    });
  });

  it('merges consecutive user messages, keeps text files and warns about other files', () => {
    const { history, warnings } = toChatHistory([
      { role: 'user', content: [{ type: 'text', text: 'one' }] },
      {
        role: 'user',
        content: [
          {
            type: 'file',
            mediaType: 'text/plain',
            data: Buffer.from('file text').toString('base64'),
          },
          { type: 'file', mediaType: 'image/png', data: new Uint8Array([1, 2, 3]) },
        ],
      },
    ]);
    expect(history[0]).toEqual({ type: 'user', text: 'one\n\nfile text' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ type: 'unsupported', feature: 'file-part' });
  });
});
