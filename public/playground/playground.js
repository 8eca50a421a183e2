// The playground: a chat page over the server's own Interactions API. Plain ES module, no build
// step. The API key is kept in this browser's localStorage only and sent as x-goog-api-key.
const KEY_STORAGE = 'open-interactions.playground.api-key';
const API = '/v1beta';
const $ = (id) => document.getElementById(id);

const state = { previousId: null, storeName: null, busy: false };

const keyInput = $('api-key');
keyInput.value = localStorage.getItem(KEY_STORAGE) ?? '';
keyInput.addEventListener('change', () => {
  localStorage.setItem(KEY_STORAGE, keyInput.value.trim());
  loadModels();
});

function headers(extra = {}) {
  const h = { ...extra };
  const key = keyInput.value.trim();
  if (key) h['x-goog-api-key'] = key;
  return h;
}

function showError(message) {
  $('error').textContent = message;
}

/** The model list, when the server answers GET /models (a free text field otherwise). */
async function loadModels() {
  try {
    const res = await fetch(`${API}/models`, { headers: headers() });
    if (!res.ok) return;
    const body = await res.json();
    const list = $('models');
    list.replaceChildren(
      ...(body.models ?? []).map((m) => {
        const option = document.createElement('option');
        option.value = String(m.name ?? '').replace(/^models\//, '');
        return option;
      }),
    );
  } catch {
    // no model list: the field stays free text
  }
}

function setPrevious(id) {
  state.previousId = id;
  $('previous').textContent = id ?? '(new)';
}

function selectedTools() {
  return [...document.querySelectorAll('#tools input:checked')].map((box) => {
    if (box.value === 'file_search')
      return {
        type: 'file_search',
        file_search_store_names: state.storeName ? [state.storeName] : [],
      };
    return { type: box.value };
  });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const TOOL_STEP = /_(call|result)$/;

/** One step of a turn, as it arrives: a label and a body that deltas grow. */
function createStepView(step) {
  const type = step.type;
  const view = el('div', `step ${TOOL_STEP.test(type) ? 'tool' : type}`);
  view.dataset.type = type;
  view.append(el('span', 'kind', type.replace(/_/g, ' ')));
  const body = el('span', 'body');
  const citations = el('div', 'citations');
  view.append(body, citations);
  if (type === 'model_output') {
    for (const c of step.content ?? []) if (c.type === 'text') body.textContent += c.text ?? '';
  } else if (type === 'thought') {
    for (const s of step.summary ?? []) if (s.type === 'text') body.textContent += s.text ?? '';
  } else if (type === 'function_call') {
    body.textContent = `${step.name}(${step.arguments ? JSON.stringify(step.arguments) : ''}`;
  } else if (TOOL_STEP.test(type)) {
    const shown = { ...step };
    delete shown.type;
    delete shown.signature;
    body.textContent = JSON.stringify(shown);
  }
  return { view, body, citations, type, args: '' };
}

function addCitations(view, annotations) {
  for (const a of annotations ?? []) {
    const href = a.url ?? a.uri;
    const link = el('a', '', a.title ?? a.file_name ?? a.name ?? href ?? a.type);
    if (typeof href === 'string' && /^https?:/.test(href)) {
      link.href = href;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
    }
    view.citations.append(link);
  }
}

function applyDelta(view, delta) {
  switch (delta.type) {
    case 'text':
      view.body.textContent += delta.text ?? '';
      break;
    case 'text_annotation_delta':
      addCitations(view, delta.annotations);
      break;
    case 'thought_summary':
      if (delta.content?.type === 'text') view.body.textContent += delta.content.text ?? '';
      break;
    case 'thought_signature':
      break;
    case 'arguments_delta':
      view.body.textContent += delta.arguments ?? '';
      break;
    default: {
      const shown = { ...delta };
      delete shown.type;
      delete shown.signature;
      if (Object.keys(shown).length > 0) view.body.textContent += JSON.stringify(shown);
    }
  }
}

function formatUsage(usage) {
  if (!usage) return '';
  return [
    `input ${usage.total_input_tokens ?? 0}`,
    `output ${usage.total_output_tokens ?? 0}`,
    `thought ${usage.total_thought_tokens ?? 0}`,
    `cached ${usage.total_cached_tokens ?? 0}`,
    `total ${usage.total_tokens ?? 0}`,
  ].join(' · ');
}

/** Reads an SSE body and calls `onEvent` with each JSON payload. */
async function readSse(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data && data !== '[DONE]') onEvent(JSON.parse(data));
    }
  }
}

async function send(text) {
  const turn = el('li', 'turn');
  turn.append(el('div', 'user', text));
  const steps = el('div', 'steps');
  const meta = el('div', 'meta', 'running…');
  turn.append(steps, meta);
  $('transcript').append(turn);
  const tools = selectedTools();
  const body = {
    model: $('model').value.trim(),
    input: text,
    stream: true,
    ...(state.previousId ? { previous_interaction_id: state.previousId } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    generation_config: { thinking_summaries: $('thoughts').checked ? 'auto' : 'none' },
  };
  const res = await fetch(`${API}/interactions`, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  if (!res.ok) {
    const err = await res.json().catch(() => ({}));
    meta.textContent = `error ${res.status}`;
    showError(err.error?.message ?? `HTTP ${res.status}`);
    return;
  }
  const views = new Map();
  let id = null;
  await readSse(res, (event) => {
    switch (event.event_type) {
      case 'interaction.created':
        id = event.interaction.id;
        turn.dataset.interactionId = id;
        break;
      case 'step.start': {
        const view = createStepView(event.step);
        views.set(event.index, view);
        steps.append(view.view);
        break;
      }
      case 'step.delta': {
        const view = views.get(event.index);
        if (view) applyDelta(view, event.delta);
        break;
      }
      case 'error':
        showError(event.error?.message ?? 'the run failed');
        break;
      case 'interaction.completed': {
        const { status, usage } = event.interaction;
        meta.replaceChildren(el('span', 'status', `${status} · ${formatUsage(usage)} · ${id}`));
        const branch = el('button', 'branch', 'Continue from here');
        branch.type = 'button';
        branch.addEventListener('click', () => setPrevious(id));
        meta.append(' ', branch);
        $('usage').textContent = `Last turn\n${formatUsage(usage).replace(/ · /g, '\n')}`;
        if (id) setPrevious(id);
        break;
      }
    }
  });
}

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('prompt').value.trim();
  if (!text || state.busy) return;
  state.busy = true;
  $('send').disabled = true;
  showError('');
  $('prompt').value = '';
  try {
    await send(text);
  } catch (err) {
    showError(String(err?.message ?? err));
  } finally {
    state.busy = false;
    $('send').disabled = false;
  }
});

$('new-chat').addEventListener('click', () => {
  setPrevious(null);
  $('transcript').replaceChildren();
});

/** Creates a File Search store (once) and uploads the chosen file into it (Google's resumable protocol). */
$('upload').addEventListener('click', async () => {
  const file = $('file').files?.[0];
  const status = $('upload-status');
  if (!file) return;
  try {
    status.textContent = 'uploading…';
    if (!state.storeName) {
      const res = await fetch(`${API}/fileSearchStores`, {
        method: 'POST',
        headers: headers({ 'content-type': 'application/json' }),
        body: JSON.stringify({ displayName: 'playground' }),
      });
      if (!res.ok) throw new Error((await res.json()).error?.message ?? `HTTP ${res.status}`);
      state.storeName = (await res.json()).name;
    }
    const start = await fetch(`/upload${API}/${state.storeName}:uploadToFileSearchStore`, {
      method: 'POST',
      headers: headers({
        'content-type': 'application/json',
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': String(file.size),
        'x-goog-upload-header-content-type': file.type || 'text/plain',
      }),
      body: JSON.stringify({ displayName: file.name }),
    });
    if (!start.ok) throw new Error((await start.json()).error?.message ?? `HTTP ${start.status}`);
    const url = start.headers.get('x-goog-upload-url');
    const done = await fetch(url, {
      method: 'POST',
      headers: headers({
        'x-goog-upload-command': 'upload, finalize',
        'x-goog-upload-offset': '0',
      }),
      body: file,
    });
    if (!done.ok) throw new Error((await done.json()).error?.message ?? `HTTP ${done.status}`);
    status.textContent = `uploaded ${file.name} to ${state.storeName}`;
    document.querySelector('#tools input[value="file_search"]').checked = true;
  } catch (err) {
    status.textContent = `upload failed: ${err.message}`;
  }
});

loadModels();
