/**
 * `GET /docs`: a reference page that renders `/openapi.json` in the browser. Plain HTML with a
 * small script and no assets (nothing to build, nothing fetched from a CDN): each operation with
 * its parameters, body and answer, and each schema as its JSON Schema. A viewer package
 * (Swagger UI, Redoc) would weigh megabytes for what an operator reads here.
 */
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Open Interactions API reference</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 2rem; color: #222; }
  h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
  .op { margin: .5rem 0; } .op summary { cursor: pointer; }
  .method { display: inline-block; min-width: 4.5rem; font-weight: 600; text-transform: uppercase; }
  .get { color: #0a6; } .post { color: #06c; } .delete { color: #c30; }
  code, pre { font: 13px/1.4 ui-monospace, monospace; } pre { background: #f6f6f6; padding: .6rem; overflow: auto; }
</style>
</head>
<body>
<h1 id="title">API reference</h1>
<p id="description"></p>
<p><a href="/openapi.json">openapi.json</a></p>
<main id="reference">Loading…</main>
<script>
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  };
  const json = (value) => el('pre', {}, JSON.stringify(value, null, 2));
  const refName = (schema) => schema && schema.$ref ? schema.$ref.split('/').pop() : undefined;
  fetch('/openapi.json').then((r) => r.json()).then((doc) => {
    document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
    document.getElementById('description').textContent = doc.info.description || '';
    const main = document.getElementById('reference');
    main.textContent = '';
    const byTag = new Map();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const tag = (op.tags || ['Other'])[0];
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push({ path, method, op });
      }
    }
    for (const [tag, ops] of byTag) {
      main.append(el('h2', { id: 'tag-' + tag.replace(/\\W+/g, '-') }, tag));
      for (const { path, method, op } of ops) {
        const details = el('details', { class: 'op' },
          el('summary', {}, el('span', { class: 'method ' + method }, method), ' ', el('code', {}, path), ' — ', op.summary || ''));
        for (const p of op.parameters || []) details.append(el('div', {}, el('code', {}, p.name), ' (' + p.in + ')'));
        const body = op.requestBody && op.requestBody.content['application/json'];
        if (body) details.append(el('div', {}, 'Body: ', el('a', { href: '#schema-' + refName(body.schema) }, refName(body.schema))));
        for (const [type, media] of Object.entries(op.responses['200'].content || {})) {
          const name = refName(media.schema) || refName(media['x-event-schema']);
          details.append(el('div', {}, '200 ' + type + ': ', name ? el('a', { href: '#schema-' + name }, name) : 'text'));
        }
        main.append(details);
      }
    }
    main.append(el('h2', {}, 'Schemas'));
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      main.append(el('details', { class: 'op', id: 'schema-' + name }, el('summary', {}, el('code', {}, name)), json(schema)));
    }
  }).catch((err) => { document.getElementById('reference').textContent = 'Could not load /openapi.json: ' + err; });
</script>
</body>
</html>
`;
