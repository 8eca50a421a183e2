import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { STORE_KINDS } from '../support/databases.js';
import { echoScript, lastUserText, type UpstreamScript } from '../support/fake-upstream.js';
import { KEY_B, noRetry, startHarness, type Harness } from '../support/harness.js';
import {
  startWebhookReceiver,
  type ReceivedDelivery,
  type WebhookReceiver,
} from '../support/webhook-receiver.js';

// Waits poll for conditions with their own generous limits; pg-boss retries in whole seconds.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const REQUEST_SECRET =
  'whsec_' + Buffer.from('request-signing-secret-for-tests').toString('base64');

/** `fail …` ends failed (a 400 from the model backend), `call …` requires action, else completed. */
const script: UpstreamScript = (body, index) => {
  const text = lastUserText(body);
  if (text.startsWith('fail')) return { status: 400 };
  if (text.startsWith('hold')) return { text: ['never'], hold: true };
  if (text.startsWith('call')) {
    return {
      toolCalls: [{ name: 'get_weather', arguments: '{"city":"Bern"}' }],
      finishReason: 'tool_calls',
    };
  }
  return echoScript(body, index);
};

const webhookSettings = {
  allow_private: true,
  initial_backoff_ms: 50,
  max_backoff_ms: 400,
  poll_ms: 50,
  max_failures: 50,
  request_signing_secret: REQUEST_SECRET,
};

/** The resource without the response the SDK attaches to it. */
const wire = <T extends object>(value: T) => {
  const { sdkHttpResponse: _response, ...rest } = value as T & { sdkHttpResponse?: unknown };
  return rest;
};

/** Verifies a delivery with the Standard Webhooks reference implementation; returns its body. */
function verified(delivery: ReceivedDelivery, secret: string): Record<string, unknown> {
  return new Webhook(secret).verify(delivery.body, delivery.headers) as Record<string, unknown>;
}

describe.each(STORE_KINDS)('webhooks (%s)', (store) => {
  let h: Harness;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startHarness({ store, script, config: { webhooks: webhookSettings } });
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });
  afterEach(() => {
    receiver.status = () => 200;
  });

  async function runInteraction(input: string, extra: Record<string, unknown> = {}) {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'test-model',
        input,
        tools: [
          {
            type: 'function',
            name: 'get_weather',
            description: 'weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        ],
        ...extra,
      }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { id: string; status: string };
  }

  it('CRUD through the SDK, per project, with a bad-input table', async () => {
    const ai = h.client();
    const created = await ai.webhooks.create(
      {
        name: 'crud',
        uri: `${receiver.url}/crud`,
        subscribed_events: ['interaction.completed'],
      },
      noRetry,
    );
    expect(created.id).toMatch(/^wh_/);
    expect(created.new_signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(wire(created)).toMatchObject({
      name: 'crud',
      uri: `${receiver.url}/crud`,
      subscribed_events: ['interaction.completed'],
      state: 'enabled',
      signing_secrets: [{ truncated_secret: created.new_signing_secret!.slice(0, 10) + '…' }],
    });
    const id = created.id!;

    const got = await ai.webhooks.get(id, undefined, noRetry);
    expect(got.new_signing_secret).toBeUndefined();
    expect(got.uri).toBe(created.uri);
    const listed = await ai.webhooks.list(undefined, noRetry);
    expect(listed.webhooks?.map((w) => w.id)).toContain(id);

    const patched = await ai.webhooks.update(
      id,
      { subscribed_events: ['interaction.failed', 'interaction.completed'], state: 'disabled' },
      noRetry,
    );
    expect(patched.subscribed_events).toEqual(['interaction.failed', 'interaction.completed']);
    expect(patched.state).toBe('disabled');
    // update_mask names the fields written: name only, the rest of the body is ignored
    const masked = await ai.webhooks.update(
      id,
      { name: 'renamed', state: 'enabled', update_mask: 'name' },
      noRetry,
    );
    expect(masked).toMatchObject({ name: 'renamed', state: 'disabled' });

    // Another project's key sees none of it.
    const b = h.client({ key: KEY_B });
    await expect(b.webhooks.get(id, undefined, noRetry)).rejects.toMatchObject({ status: 404 });
    await expect(b.webhooks.delete(id, undefined, noRetry)).rejects.toMatchObject({ status: 404 });
    await expect(b.webhooks.ping(id, undefined, noRetry)).rejects.toMatchObject({ status: 404 });
    expect((await b.webhooks.list(undefined, noRetry)).webhooks ?? []).toEqual([]);

    // Pages: project B's two webhooks, one per page.
    const b1 = await b.webhooks.create(
      { uri: `${receiver.url}/b1`, subscribed_events: ['interaction.failed'] },
      noRetry,
    );
    const b2 = await b.webhooks.create(
      { uri: `${receiver.url}/b2`, subscribed_events: ['interaction.failed'] },
      noRetry,
    );
    const page1 = await b.webhooks.list({ page_size: 1 }, noRetry);
    expect(page1.webhooks).toHaveLength(1);
    expect(page1.next_page_token).toBeTruthy();
    const page2 = await b.webhooks.list(
      { page_size: 1, page_token: page1.next_page_token },
      noRetry,
    );
    expect([...page1.webhooks!, ...page2.webhooks!].map((w) => w.id).sort()).toEqual(
      [b1.id, b2.id].sort(),
    );
    expect(page2.next_page_token).toBeUndefined();
    await b.webhooks.delete(b1.id!, undefined, noRetry);
    await b.webhooks.delete(b2.id!, undefined, noRetry);

    // Bad input: 400 naming the field.
    const bad: [unknown, string][] = [
      [{ subscribed_events: ['interaction.completed'] }, 'uri'],
      [{ uri: 'not a url', subscribed_events: ['interaction.completed'] }, 'uri'],
      [{ uri: 'ftp://example.com/x', subscribed_events: ['interaction.completed'] }, 'uri'],
      [{ uri: receiver.url }, 'subscribed_events'],
      [{ uri: receiver.url, subscribed_events: [] }, 'subscribed_events'],
      [
        { uri: receiver.url, subscribed_events: ['interaction.completed', 'interaction.done'] },
        'subscribed_events[1]',
      ],
      [{ uri: receiver.url, subscribed_events: ['interaction.completed'], extra: 1 }, 'extra'],
      [[], 'body'],
    ];
    for (const [body, field] of bad) {
      const res = await h.fetch('/v1beta/webhooks', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message.startsWith(`${field}:`), `${error.message} names ${field}`).toBe(true);
    }
    const badPatch = await h.fetch(`/v1beta/webhooks/${id}?update_mask=secret`, {
      method: 'PATCH',
      body: '{}',
    });
    expect(badPatch.status).toBe(400);
    expect(((await badPatch.json()) as { error: { message: string } }).error.message).toMatch(
      /^update_mask:/,
    );
    const unknownMethod = await h.fetch(`/v1beta/webhooks/${id}:explode`, {
      method: 'POST',
      body: '{}',
    });
    expect(unknownMethod.status).toBe(404);

    await ai.webhooks.delete(id, undefined, noRetry);
    await expect(ai.webhooks.get(id, undefined, noRetry)).rejects.toMatchObject({ status: 404 });
  });

  it('every event reaches a subscribed webhook, signed (Standard Webhooks)', async () => {
    const ai = h.client();
    const hook = await ai.webhooks.create(
      {
        uri: `${receiver.url}/signed`,
        subscribed_events: [
          'interaction.completed',
          'interaction.failed',
          'interaction.requires_action',
          'interaction.cancelled',
        ],
      },
      noRetry,
    );
    const secret = hook.new_signing_secret!;
    const completed = await runInteraction('hello');
    const failed = await runInteraction('fail please');
    const action = await runInteraction('call the tool');
    expect([completed.status, failed.status, action.status]).toEqual([
      'completed',
      'failed',
      'requires_action',
    ]);
    const before = h.upstream.requests.length;
    const held = await ai.interactions.create(
      { model: 'test-model', input: 'hold on', background: true },
      noRetry,
    );
    await h.upstream.waitForRequests(before + 1);
    expect((await ai.interactions.cancel(held.id, undefined, noRetry)).status).toBe('cancelled');
    h.upstream.release();
    const mine = (r: ReceivedDelivery[]) => r.filter((d) => d.path === '/signed');
    await receiver.waitFor((r) => mine(r).length >= 4, 'four deliveries');
    const bodies = mine(receiver.received).map((d) => verified(d, secret));
    expect(bodies.map((b) => [b.type, (b.data as { id: string }).id]).sort()).toEqual(
      [
        ['interaction.completed', completed.id],
        ['interaction.failed', failed.id],
        ['interaction.requires_action', action.id],
        ['interaction.cancelled', held.id],
      ].sort(),
    );
    for (const d of mine(receiver.received)) {
      expect(d.headers['webhook-id']).toMatch(/^msg_/);
      // a wrong secret does not verify
      expect(() =>
        verified(d, 'whsec_' + Buffer.from('x'.repeat(24)).toString('base64')),
      ).toThrow();
    }
    await ai.webhooks.delete(hook.id!, undefined, noRetry);
  });

  it('webhook_config: the request URIs get the event (instead of webhooks), user_metadata echoed', async () => {
    const ai = h.client();
    const registered = await ai.webhooks.create(
      { uri: `${receiver.url}/registered`, subscribed_events: ['interaction.completed'] },
      noRetry,
    );
    const done = await runInteraction('with config', {
      webhook_config: {
        uris: [`${receiver.url}/dynamic-1`, `${receiver.url}/dynamic-2`],
        user_metadata: { order: 42, tag: 'blue' },
      },
    });
    await receiver.waitFor(
      (r) => r.filter((d) => d.path.startsWith('/dynamic-')).length >= 2,
      'both request URIs',
    );
    for (const d of receiver.received.filter((x) => x.path.startsWith('/dynamic-'))) {
      const body = verified(d, REQUEST_SECRET);
      expect(body).toMatchObject({
        type: 'interaction.completed',
        data: { id: done.id, status: 'completed', user_metadata: { order: 42, tag: 'blue' } },
      });
    }
    // A later event to the registered webhook proves the first one was not merely slow.
    const later = await runInteraction('plain');
    await receiver.waitFor(
      (r) =>
        r.some(
          (d) =>
            d.path === '/registered' &&
            (JSON.parse(d.body) as { data: { id: string } }).data.id === later.id,
        ),
      'the registered webhook',
    );
    expect(
      receiver.received.filter(
        (d) =>
          d.path === '/registered' &&
          (JSON.parse(d.body) as { data: { id: string } }).data.id === done.id,
      ),
    ).toEqual([]);
    await ai.webhooks.delete(registered.id!, undefined, noRetry);
  });

  it('a receiver that is down for a while gets every event afterwards; retries keep the webhook-id', async () => {
    const ai = h.client();
    const hook = await ai.webhooks.create(
      { uri: `${receiver.url}/flaky`, subscribed_events: ['interaction.completed'] },
      noRetry,
    );
    const secret = hook.new_signing_secret!;
    // Down: the first attempts of each delivery fail (HTTP 503), then the receiver recovers.
    let refused = 0;
    receiver.status = (path) => (path === '/flaky' && refused++ < 4 ? 503 : 200);
    const ids = [];
    for (const input of ['one', 'two', 'three']) ids.push((await runInteraction(input)).id);
    const ok = (r: ReceivedDelivery[]) => r.filter((d) => d.path === '/flaky' && d.status === 200);
    await receiver.waitFor((r) => ok(r).length >= 3, 'every event after recovery');
    const all = receiver.received.filter((d) => d.path === '/flaky');
    expect(all.some((d) => d.status === 503)).toBe(true);
    // every attempt is signed, and all attempts of one event share its webhook-id
    const byEvent = new Map<string, Set<string>>();
    for (const d of all) {
      const body = verified(d, secret) as { data: { id: string } };
      (byEvent.get(body.data.id) ?? byEvent.set(body.data.id, new Set()).get(body.data.id)!).add(
        d.headers['webhook-id']!,
      );
    }
    expect([...byEvent.keys()].sort()).toEqual([...ids].sort());
    for (const webhookIds of byEvent.values()) expect(webhookIds.size).toBe(1);
    const got = await ai.webhooks.get(hook.id!, undefined, noRetry);
    expect(got.state).toBe('enabled');
    await ai.webhooks.delete(hook.id!, undefined, noRetry);
  });

  it('a receiver whose port is closed gets the event once it listens again', async () => {
    const other = await startWebhookReceiver();
    try {
      const ai = h.client();
      const hook = await ai.webhooks.create(
        { uri: `${other.url}/later`, subscribed_events: ['interaction.completed'] },
        noRetry,
      );
      await other.down();
      const done = await runInteraction('while down');
      // Wait until the delivery has failed at least once, then bring the receiver back.
      const webhooks = await deliveriesOf(h, 'team-a');
      await waitUntil(
        async () => (await webhooks()).some((d) => d.webhookId === hook.id && d.attempts >= 1),
        'a failed attempt',
      );
      await other.up();
      await other.waitFor((r) => r.length >= 1, 'the delivery after recovery');
      const body = verified(other.received[0]!, hook.new_signing_secret!) as {
        data: { id: string };
      };
      expect(body.data.id).toBe(done.id);
      await ai.webhooks.delete(hook.id!, undefined, noRetry);
    } finally {
      await other.close();
    }
  });

  it('a receiver that always fails gets its webhook disabled', async () => {
    const strict = await startHarness({
      store,
      script,
      config: { webhooks: { ...webhookSettings, max_failures: 3 } },
    });
    try {
      await alwaysFailing(strict);
    } finally {
      await strict.close();
    }
  });

  async function alwaysFailing(h: Harness) {
    const ai = h.client();
    const hook = await ai.webhooks.create(
      { uri: `${receiver.url}/broken`, subscribed_events: ['interaction.completed'] },
      noRetry,
    );
    receiver.status = (path) => (path === '/broken' ? 500 : 200);
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'test-model', input: 'doomed' }),
    });
    expect(res.status).toBe(200);
    await waitUntil(
      async () =>
        (await ai.webhooks.get(hook.id!, undefined, noRetry)).state ===
        'disabled_due_to_failed_deliveries',
      'the webhook to be disabled',
    );
    expect(receiver.received.filter((d) => d.path === '/broken').length).toBe(3);
    // re-enabling works (and starts the count afresh)
    const enabled = await ai.webhooks.update(hook.id!, { state: 'enabled' }, noRetry);
    expect(enabled.state).toBe('enabled');
    await ai.webhooks.delete(hook.id!, undefined, noRetry);
  }

  it(':ping delivers a signed webhook.ping; :rotateSigningSecret signs with old and new', async () => {
    const ai = h.client();
    const hook = await ai.webhooks.create(
      { uri: `${receiver.url}/ping`, subscribed_events: ['interaction.completed'] },
      noRetry,
    );
    const first = hook.new_signing_secret!;
    expect(wire(await ai.webhooks.ping(hook.id!, undefined, noRetry))).toEqual({});
    const pings = (r: ReceivedDelivery[]) => r.filter((d) => d.path === '/ping');
    await receiver.waitFor((r) => pings(r).length >= 1, 'the ping');
    expect(verified(pings(receiver.received)[0]!, first)).toMatchObject({
      type: 'webhook.ping',
      data: { webhook_id: hook.id },
    });

    const rotated = await ai.webhooks.rotateSigningSecret(hook.id!, {}, noRetry);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(first);
    const got = await ai.webhooks.get(hook.id!, undefined, noRetry);
    expect(got.signing_secrets).toHaveLength(2);
    expect(got.signing_secrets![1]!.expire_time).toBeDefined();
    await ai.webhooks.ping(hook.id!, undefined, noRetry);
    await receiver.waitFor((r) => pings(r).length >= 2, 'the second ping');
    const second = pings(receiver.received)[1]!;
    expect(second.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    verified(second, first);
    verified(second, rotated.secret!);

    // Revoked at once: only the newest secret signs.
    const third = await ai.webhooks.rotateSigningSecret(
      hook.id!,
      { revocation_behavior: 'revoke_previous_secrets_immediately' },
      noRetry,
    );
    await ai.webhooks.ping(hook.id!, undefined, noRetry);
    await receiver.waitFor((r) => pings(r).length >= 3, 'the third ping');
    const last = pings(receiver.received)[2]!;
    verified(last, third.secret!);
    expect(() => verified(last, rotated.secret!)).toThrow();
    await ai.webhooks.delete(hook.id!, undefined, noRetry);
  });

  it('a private address is refused at create, patch and in webhook_config', async () => {
    const strict = await startHarness({
      store,
      script,
      config: { webhooks: { ...webhookSettings, allow_private: false } },
    });
    try {
      for (const uri of [
        `${receiver.url}/x`,
        'http://10.0.0.8/hook',
        'http://169.254.169.254/latest',
        'http://localhost:9/x',
      ]) {
        const res = await strict.fetch('/v1beta/webhooks', {
          method: 'POST',
          body: JSON.stringify({ uri, subscribed_events: ['interaction.completed'] }),
        });
        expect(res.status, uri).toBe(400);
        expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
          /^uri: refused/,
        );
      }
      const res = await strict.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({
          model: 'test-model',
          input: 'hi',
          webhook_config: { uris: ['https://93.184.215.14/ok', `${receiver.url}/x`] },
        }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /^webhook_config\.uris\[1\]: refused/,
      );
      // with allowed_hosts naming the receiver, it is accepted
      const allowed = await startHarness({
        store,
        script,
        db: strict.db,
        config: {
          webhooks: {
            ...webhookSettings,
            allow_private: false,
            allowed_hosts: [`127.0.0.1:${receiver.port}`],
          },
        },
      });
      try {
        const ok = await allowed.fetch('/v1beta/webhooks', {
          method: 'POST',
          body: JSON.stringify({
            uri: `${receiver.url}/x`,
            subscribed_events: ['interaction.completed'],
          }),
        });
        expect(ok.status).toBe(200);
        const { id } = (await ok.json()) as { id: string };
        // the first server (no allowed hosts) refuses the same address on patch
        const patched = await strict.fetch(`/v1beta/webhooks/${id}?update_mask=uri`, {
          method: 'PATCH',
          body: JSON.stringify({ uri: `${receiver.url}/y` }),
        });
        expect(patched.status).toBe(400);
        expect(((await patched.json()) as { error: { message: string } }).error.message).toMatch(
          /^uri: refused/,
        );
      } finally {
        await allowed.close();
      }
    } finally {
      await strict.close();
    }
  });
});

describe.each(STORE_KINDS)('webhook secrets at rest (%s)', (store) => {
  it('are sealed when signature_secret is set, and deliveries still verify', async () => {
    const receiver = await startWebhookReceiver();
    const h = await startHarness({
      store,
      script,
      config: {
        webhooks: webhookSettings,
        signature_secret: 'a-durable-server-secret-of-some-length',
      },
    });
    try {
      const ai = h.client();
      const hook = await ai.webhooks.create(
        { uri: `${receiver.url}/sealed`, subscribed_events: ['interaction.completed'] },
        noRetry,
      );
      const secret = hook.new_signing_secret!;
      const { openDatabase } = await import('../../src/store/database.js');
      const { sql } = await import('kysely');
      const handle = openDatabase(h.db.url);
      try {
        const { rows } = await sql<{ secrets: string }>`select secrets from webhooks`.execute(
          handle.db,
        );
        expect(rows).toHaveLength(1);
        expect(rows[0]!.secrets).not.toContain(secret.slice('whsec_'.length));
        expect(rows[0]!.secrets).toContain('"sealed":"v1:');
      } finally {
        await handle.db.destroy();
      }
      const res = await h.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({ model: 'test-model', input: 'sealed' }),
      });
      const { id } = (await res.json()) as { id: string };
      await receiver.waitFor((r) => r.length >= 1, 'the delivery');
      expect(verified(receiver.received[0]!, secret)).toMatchObject({ data: { id } });
    } finally {
      await h.close();
      await receiver.close();
    }
  });
});

describe.each(STORE_KINDS)('webhooks across a restart (%s)', (store) => {
  it('deliveries pending when the server stops are delivered by the next one', async () => {
    const receiver = await startWebhookReceiver();
    const first = await startHarness({
      store,
      script,
      config: { webhooks: { ...webhookSettings, max_failures: 1000 } },
    });
    let second: Harness | undefined;
    try {
      const ai = first.client();
      const hook = await ai.webhooks.create(
        { uri: `${receiver.url}/restart`, subscribed_events: ['interaction.completed'] },
        noRetry,
      );
      await receiver.down();
      const ids: string[] = [];
      for (const input of ['a', 'b']) {
        const res = await first.fetch('/v1beta/interactions', {
          method: 'POST',
          body: JSON.stringify({ model: 'test-model', input }),
        });
        ids.push(((await res.json()) as { id: string }).id);
      }
      const deliveries = await deliveriesOf(first, 'team-a');
      await waitUntil(
        async () => (await deliveries()).filter((d) => d.attempts >= 1).length >= 2,
        'both deliveries to fail once',
      );
      await first.server.close(0);
      await receiver.up();
      second = await startHarness({
        store,
        script,
        db: first.db,
        config: { webhooks: { ...webhookSettings, max_failures: 1000 } },
      });
      const ok = (r: ReceivedDelivery[]) => r.filter((d) => d.status === 200);
      await receiver.waitFor((r) => ok(r).length >= 2, 'both deliveries after the restart');
      const got = ok(receiver.received).map(
        (d) => (verified(d, hook.new_signing_secret!) as { data: { id: string } }).data.id,
      );
      expect(got.sort()).toEqual([...ids].sort());
    } finally {
      await second?.close();
      await first.upstream.close();
      await first.db.drop();
      await receiver.close();
    }
  });
});

/** Polls `condition` until it holds (generous limit: the outcome never depends on speed). */
async function waitUntil(condition: () => Promise<boolean>, what: string): Promise<void> {
  const limit = Date.now() + 90_000;
  while (!(await condition())) {
    if (Date.now() > limit) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The project's deliveries as stored (a separate connection to the test's database). */
async function deliveriesOf(h: Harness, project: string) {
  const { openDatabase } = await import('../../src/store/database.js');
  const { WebhookStore } = await import('../../src/store/webhook-store.js');
  return async () => {
    const handle = openDatabase(h.db.url);
    try {
      return await new WebhookStore(handle).deliveriesOf(project);
    } finally {
      await handle.db.destroy();
    }
  };
}
