// Integration tests of mcphub-workerd --standalone on loopback: real daemon,
// real stdio servers (our C example server and server-everything), the
// official MCP TypeScript SDK client.  No mocks.
//
// Run by tests/integration/run (make check), or alone from the repository root:
//   MCPHUB_BUILD=build node --test tests/interop/worker-standalone.test.mjs
//
// Figures worth reading are printed as test diagnostics ("figure: ...").
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';

import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, McpError,
         ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { EVERYTHING, EXAMPLE, EXAMPLE_TOOLS, MCP_HEADERS, OWN_TMP, SAMPLE_REPLY, TMP, WORKERD, alive,
         connect, descendants, disconnect, failures, http, procState, remember, sleep, startWorker,
         stopWorker, text, tracked, waitFor } from './lib/harness.mjs';

const TOKEN = 'it-cluster-token-4f2a';

// A worker without a master: every server of its settings.
const startStandalone = (name, servers, extraArgs = []) =>
    startWorker(name, servers, ['--standalone', ...extraArgs]);

async function replicaOf(w, server) {
    const r = await http(w, 'GET', `/api/servers/${server}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.replicas.length, 1, r.text);
    return r.json.data.replicas[0];
}

// ---- the tests -------------------------------------------------------------------------------

describe('mcphub-workerd --standalone', { timeout: 150000 }, () => {
    let w;          // the worker with both servers
    let tw;         // the worker with a cluster token
    const clients = [];

    const open = async (...args) => {
        const c = await connect(...args);
        clients.push(c);
        return c;
    };

    before(async () => {
        failures.count++; // until the worker is up: keep its log if it does not start
        assert.ok(existsSync(WORKERD), `${WORKERD} missing: run make all`);
        assert.ok(existsSync(EXAMPLE), `${EXAMPLE} missing: run make all`);
        assert.ok(existsSync(EVERYTHING), `${EVERYTHING} missing: npm ci in tests/interop`);
        w = await startStandalone('worker', {
            example: { command: EXAMPLE, args: [] },
            everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
        });
        await waitFor('both servers connected', async () => {
            const h = await http(w, 'GET', '/health');
            return h.status === 200 && h.json.servers.total === 2 && h.json.servers.connected === 2;
        }, 30000);
        const servers = (await http(w, 'GET', '/api/servers')).json.data;
        for (const s of servers)
            for (const r of s.replicas)
                remember(r.pid);
        failures.count--;
    });

    after(async () => {
        await Promise.all(clients.map(disconnect));
        for (const x of [w, tw])
            if (x)
                await stopWorker(x);
        if (OWN_TMP && failures.count === 0)
            rmSync(TMP, { recursive: true, force: true });
        else if (OWN_TMP)
            console.error(`logs kept in ${TMP}`);
    });

    tracked('health: both servers connected, no token needed', async () => {
        const h = await http(w, 'GET', '/health');
        assert.equal(h.status, 200);
        assert.equal(h.json.status, 'healthy');
        assert.deepEqual(h.json.servers, { total: 2, connected: 2, disconnected: 0 });
        assert.equal(h.json.role, 'worker');
        assert.equal(h.json.nodeId, 'worker');
    });

    tracked('initialize and tools/list: names as the servers define them', async () => {
        const ex = await open(w, '/mcp/example');
        assert.equal(ex.client.getServerVersion().name, 'example');
        assert.ok(ex.transport.sessionId, 'a session id was issued');
        const names = (await ex.client.listTools()).tools.map((t) => t.name).sort();
        assert.deepEqual(names, EXAMPLE_TOOLS);

        const ev = await open(w, '/mcp/everything');
        const evNames = (await ev.client.listTools()).tools.map((t) => t.name);
        for (const n of ['echo', 'get-sum', 'trigger-sampling-request'])
            assert.ok(evNames.includes(n), `everything lists ${n}: ${evNames}`);
        assert.ok(evNames.every((n) => !n.startsWith('everything')), 'no prefix on /mcp/:server');
    });

    tracked('tools/call echo and add (structuredContent)', async () => {
        const { client } = await open(w, '/mcp/example');
        await client.listTools(); // lets the SDK validate add's structuredContent
        const echo = await client.callTool({ name: 'echo', arguments: { text: 'héllo\nworld "q"' } });
        assert.equal(text(echo), 'héllo\nworld "q"');
        assert.ok(!echo.isError);
        const add = await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
        assert.deepEqual(add.structuredContent, { sum: 42 });
        assert.equal(text(add), '42');
        const bad = await client.callTool({ name: 'add', arguments: { a: 'x', b: 2 } });
        assert.equal(bad.isError, true);

        const ev = await open(w, '/mcp/everything');
        assert.equal(text(await ev.client.callTool({ name: 'echo', arguments: { message: 'hi' } })),
                     'Echo: hi');
        assert.match(text(await ev.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })),
                     /is 5\b/);
    });

    tracked('progress notifications reach the caller', async (t) => {
        const { client } = await open(w, '/mcp/example');
        const seen = [];
        const res = await client.callTool({ name: 'slow', arguments: { ms: 400, steps: 5 } },
                                          undefined, { onprogress: (p) => seen.push(p) });
        assert.equal(text(res), 'slept 400 ms in 5 steps');
        t.diagnostic(`figure: progress notifications received: ${seen.length} of 5`);
        assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3, 4, 5]);
        assert.ok(seen.every((p) => p.total === 5));
        assert.equal(seen[4].message, 'step 5 of 5');
    });

    tracked('sampling round trip: server-everything and the example server', async () => {
        const ev = await open(w, '/mcp/everything', { sampling: true });
        const r1 = await ev.client.callTool({ name: 'trigger-sampling-request',
                                              arguments: { prompt: 'say hi', maxTokens: 20 } });
        assert.ok(text(r1).includes(SAMPLE_REPLY), text(r1));

        const ex = await open(w, '/mcp/example', { sampling: true });
        const r2 = await ex.client.callTool({ name: 'sample', arguments: { prompt: 'say hi' } });
        assert.equal(text(r2), SAMPLE_REPLY);
        assert.ok(!r2.isError);

        // A session that did not declare sampling is not asked.
        const plain = await open(w, '/mcp/example');
        const r3 = await plain.client.callTool({ name: 'sample', arguments: { prompt: 'x' } });
        assert.equal(r3.isError, true, text(r3));
    });

    tracked('50 concurrent sessions on one replica see only their own answers', async (t) => {
        const SESSIONS = 50, CALLS = 20;
        const before = (await replicaOf(w, 'example')).sessions;
        const sessions = await Promise.all(
            Array.from({ length: SESSIONS }, () => connect(w, '/mcp/example')));
        const ids = new Set(sessions.map((s) => s.transport.sessionId));
        assert.equal(ids.size, SESSIONS, 'distinct session ids');
        try {
            assert.equal((await replicaOf(w, 'example')).sessions, before + SESSIONS);
            const t0 = process.hrtime.bigint();
            const results = await Promise.all(sessions.map((s, i) => Promise.all(
                Array.from({ length: CALLS }, async (_, j) => {
                    const token = `s${i}-c${j}-${Math.random().toString(36).slice(2)}`;
                    const r = await s.client.callTool({ name: 'echo', arguments: { text: token } });
                    return [token, text(r)];
                }))));
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            let wrong = 0;
            for (const perSession of results)
                for (const [sent, got] of perSession)
                    wrong += sent !== got;
            t.diagnostic(`figure: ${SESSIONS} sessions x ${CALLS} concurrent echo calls = ` +
                         `${SESSIONS * CALLS} calls in ${ms.toFixed(0)} ms ` +
                         `(${(SESSIONS * CALLS / ms * 1000).toFixed(0)} calls/s), ${wrong} wrong`);
            for (const perSession of results)
                for (const [sent, got] of perSession)
                    assert.equal(got, sent);
        } finally {
            await Promise.all(sessions.map(disconnect));
        }
        // DELETE ended them on the replica too.
        await waitFor('sessions released', async () =>
            (await replicaOf(w, 'example')).sessions === before, 5000);
    });

    tracked('progress stays with its session under concurrency', async (t) => {
        const N = 10;
        const sessions = await Promise.all(Array.from({ length: N }, () => connect(w, '/mcp/example')));
        try {
            // Every SDK client numbers its requests 0, 1, 2... and uses the id
            // as progress token: the worker must keep them apart.
            const progress = sessions.map(() => []);
            const results = await Promise.all(sessions.map((s, i) =>
                s.client.callTool({ name: 'slow', arguments: { ms: 300, steps: 3 } }, undefined,
                                  { onprogress: (p) => progress[i].push(p.progress) })));
            results.forEach((r, i) => {
                assert.equal(text(r), 'slept 300 ms in 3 steps');
                assert.deepEqual(progress[i], [1, 2, 3], `session ${i} progress`);
            });
            t.diagnostic(`figure: ${N} concurrent slow calls: ${progress.flat().length} progress ` +
                         'notifications, each on its own session');
        } finally {
            await Promise.all(sessions.map(disconnect));
        }
    });

    // A stdio server's sampling request carries nothing that names the call
    // it serves.  With one child shared by sessions, the worker delivers it
    // only when a single session has calls in flight (capable or not) and
    // that session declared sampling; with several it refuses it (error
    // -32603, "cannot be routed", mux.h), since any pick could hand one
    // client another's prompt.  So under concurrency every call ends with
    // its own client's reply or with that refusal (the example's `sample`
    // turns it into an isError result), and no client ever sees another
    // session's prompt or reply.
    tracked('concurrent sampling: own reply or a clean refusal, never another session\'s',
            async (t) => {
        const N = 5;
        const asked = Array.from({ length: N }, () => []); // prompts each client was given
        const promptOf = (req) => req.params.messages
            .map((m) => (m.content?.type === 'text' ? m.content.text : JSON.stringify(m.content)))
            .join('\n');
        // Slow answers, so that the five calls are surely in flight together.
        const sessions = await Promise.all(Array.from({ length: N }, (_, i) =>
            connect(w, '/mcp/example', { sampleDelay: 200, sampling: (req) => {
                asked[i].push(promptOf(req));
                return `reply for session ${i}`;
            } })));
        try {
            const got = await Promise.all(sessions.map((s, i) =>
                s.client.callTool({ name: 'sample', arguments: { prompt: `prompt for session ${i}` } })
                    .then((r) => ({ text: text(r), isError: r.isError === true, thrown: false }),
                          (e) => ({ text: String(e?.message ?? e), isError: true, thrown: true }))));
            let own = 0, refused = 0;
            got.forEach((g, i) => {
                const what = `session ${i}: ${JSON.stringify(g)}`;
                for (let j = 0; j < N; j++)
                    if (j !== i)
                        assert.ok(!g.text.includes(`session ${j}`), `another session's text: ${what}`);
                if (g.isError) {
                    assert.match(g.text, /cannot be routed/, what);
                    assert.match(g.text, /several client sessions have requests in flight/, what);
                    assert.deepEqual(asked[i], [], `refused, yet its client was asked: ${what}`);
                    refused++;
                } else {
                    assert.equal(g.text, `reply for session ${i}`, what);
                    assert.deepEqual(asked[i], [`prompt for session ${i}`], `${what}, asked ${asked[i]}`);
                    own++;
                }
            });
            t.diagnostic(`figure: ${N} concurrent sampling calls: ${own} answered by their own ` +
                         `client, ${refused} refused as not routable, 0 by another session`);
            assert.equal(own + refused, N);
            // Once the others' calls are over, a call is routed again.
            const again = await sessions[0].client.callTool({ name: 'sample',
                                                              arguments: { prompt: 'alone now' } });
            assert.equal(text(again), 'reply for session 0', JSON.stringify(again));
            assert.ok(!again.isError);
            assert.equal(asked[0].at(-1), 'alone now');
            for (let i = 1; i < N; i++)
                assert.ok(!asked[i].includes('alone now'), `session ${i} was asked session 0's prompt`);
        } finally {
            await Promise.all(sessions.map(disconnect));
        }
    });

    tracked('logging and tools/list_changed reach the sessions', async () => {
        const a = await open(w, '/mcp/example');
        const b = await open(w, '/mcp/example');
        const logs = [];
        a.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
        let changed = 0;
        b.client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed++; });
        // The log has no link to the call (stdio), so it travels on the GET
        // stream and may arrive after the call's result.
        await a.client.callTool({ name: 'log', arguments: { level: 'warning', message: 'it-log' } });
        await waitFor('the log notification', async () => logs.length > 0, 5000);
        assert.deepEqual(logs.map((l) => [l.level, l.logger, l.data]), [['warning', 'example', 'it-log']]);

        await a.client.callTool({ name: 'toggle_extra', arguments: {} });
        try {
            await waitFor('tools/list_changed on the other session', async () => changed > 0, 5000);
            const names = await waitFor('extra listed', async () => {
                const n = (await b.client.listTools()).tools.map((x) => x.name);
                return n.includes('extra') ? n : undefined;
            }, 5000);
            assert.equal(names.length, EXAMPLE_TOOLS.length + 1);
        } finally {
            await a.client.callTool({ name: 'toggle_extra', arguments: {} });
        }
        await waitFor('extra gone again', async () =>
            !(await b.client.listTools()).tools.some((x) => x.name === 'extra'), 5000);
    });

    tracked('legacy HTTP+SSE transport on /sse/example', async () => {
        const { client } = await open(w, '/sse/example', { sse: true });
        assert.equal(client.getServerVersion().name, 'example');
        assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), EXAMPLE_TOOLS);
        assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'legacy' } })),
                     'legacy');
    });

    tracked('transport errors: 400 without session, 404 unknown session, 400 -32700', async () => {
        const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
        const noSession = await http(w, 'POST', '/mcp/example', { body: list, headers: MCP_HEADERS });
        assert.equal(noSession.status, 400, noSession.text);
        assert.equal(noSession.json?.jsonrpc, '2.0', noSession.text);

        const unknown = await http(w, 'POST', '/mcp/example', {
            body: list, headers: { ...MCP_HEADERS, 'mcp-session-id': 'f'.repeat(32) } });
        assert.equal(unknown.status, 404, unknown.text);
        assert.equal(typeof unknown.json?.error?.code, 'number', unknown.text);

        const bad = await http(w, 'POST', '/mcp/example', { body: '{"jsonrpc":', headers: MCP_HEADERS });
        assert.equal(bad.status, 400, bad.text);
        assert.equal(bad.json?.error?.code, -32700, bad.text);

        // The same inside a live session.
        const { transport } = await open(w, '/mcp/example');
        const bad2 = await http(w, 'POST', '/mcp/example', {
            body: 'not json', headers: { ...MCP_HEADERS, 'mcp-session-id': transport.sessionId } });
        assert.equal(bad2.status, 400, bad2.text);
        assert.equal(bad2.json?.error?.code, -32700, bad2.text);

        // A protocol version nobody speaks.
        const badVersion = await http(w, 'POST', '/mcp/example', {
            body: list, headers: { ...MCP_HEADERS, 'mcp-session-id': transport.sessionId,
                                   'mcp-protocol-version': '1999-01-01' } });
        assert.equal(badVersion.status, 400, badVersion.text);

        // A session ended with DELETE is unknown afterwards.
        const gone = await connect(w, '/mcp/example');
        const goneId = gone.transport.sessionId;
        await disconnect(gone);
        const afterDelete = await http(w, 'POST', '/mcp/example', {
            body: list, headers: { ...MCP_HEADERS, 'mcp-session-id': goneId } });
        assert.equal(afterDelete.status, 404, afterDelete.text);

        // A server this node does not know: 404 before any session exists,
        // whatever the method (and on the legacy transport's stream too).
        const unknownBody = { jsonrpc: '2.0', error: { code: -32001,
                                                       message: 'Unknown server: nosuchserver' },
                              id: null };
        const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: {
            protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'it', version: '1' } } };
        const sessionsBefore = (await replicaOf(w, 'example')).sessions;
        for (const [method, path, opts] of [
            ['POST', '/mcp/nosuchserver', { body: init, headers: MCP_HEADERS }],
            ['POST', '/mcp/nosuchserver', { body: list, headers: { ...MCP_HEADERS,
                                                                   'mcp-session-id': transport.sessionId } }],
            ['GET', '/mcp/nosuchserver', { headers: { accept: 'text/event-stream' } }],
            ['DELETE', '/mcp/nosuchserver', { headers: { 'mcp-session-id': transport.sessionId } }],
            ['GET', '/sse/nosuchserver', { headers: { accept: 'text/event-stream' } }],
        ]) {
            const r = await http(w, method, path, opts);
            const what = `${method} ${path}: ${r.status} ${r.text}`;
            assert.equal(r.status, 404, what);
            assert.match(r.headers.get('content-type') ?? '', /^application\/json/, what);
            assert.deepEqual(r.json, unknownBody, what);
            assert.equal(r.headers.get('mcp-session-id'), null, `no session for it: ${what}`);
        }
        assert.ok((await replicaOf(w, 'example')).sessions <= sessionsBefore, 'no replica session opened');
        // The DELETE above did not end the session it named on another server.
        const still = await http(w, 'POST', '/mcp/example', {
            body: list, headers: { ...MCP_HEADERS, 'mcp-session-id': transport.sessionId } });
        assert.equal(still.status, 200, still.text);
    });

    tracked('X-Cluster-Token: 401 without or with a wrong token, /health open', async () => {
        tw = await startStandalone('token-worker', { example: { command: EXAMPLE, args: [] } },
                               ['--token', TOKEN]);
        await waitFor('token worker ready', async () =>
            (await http(tw, 'GET', '/health')).json?.servers?.connected === 1);
        const health = await http(tw, 'GET', '/health');
        assert.equal(health.status, 200);
        for (const headers of [{}, { 'x-cluster-token': 'wrong' }, { 'x-cluster-token': '' }]) {
            const api = await http(tw, 'GET', '/api/servers', { headers });
            assert.equal(api.status, 401, `GET /api/servers ${JSON.stringify(headers)}: ${api.text}`);
            const mcp = await http(tw, 'POST', '/mcp/example', {
                body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: {
                    protocolVersion: '2025-11-25', capabilities: {},
                    clientInfo: { name: 'it', version: '1' } } },
                headers: { ...MCP_HEADERS, ...headers } });
            assert.equal(mcp.status, 401, `POST /mcp/example ${JSON.stringify(headers)}: ${mcp.text}`);
        }
        const ok = await http(tw, 'GET', '/api/servers', { headers: { 'x-cluster-token': TOKEN } });
        assert.equal(ok.status, 200, ok.text);
        for (const r of ok.json.data[0].replicas)
            remember(r.pid);
        const c = await connect(tw, '/mcp/example', { headers: { 'X-Cluster-Token': TOKEN } });
        assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { text: 'tok' } })), 'tok');
        await disconnect(c);
        const kids = descendants(tw.pid);
        assert.equal(kids.length, 1, `one replica process: ${kids}`);
        assert.deepEqual(await stopWorker(tw), { code: 0, signal: null });
        assert.deepEqual(kids.filter(alive), []);
    });

    tracked('REST: /api/servers, /api/servers/:name, /api/tools/call/:server', async () => {
        const all = await http(w, 'GET', '/api/servers');
        assert.equal(all.status, 200);
        assert.equal(all.json.success, true);
        const byName = Object.fromEntries(all.json.data.map((s) => [s.name, s]));
        assert.deepEqual(Object.keys(byName).sort(), ['everything', 'example']);
        for (const s of Object.values(byName)) {
            assert.equal(s.status, 'connected');
            assert.equal(s.replicas[0].status, 'running');
            assert.ok(s.replicas[0].pid > 0);
        }
        assert.deepEqual(byName.example.tools.map((t) => t.name).sort(),
                         EXAMPLE_TOOLS.map((n) => `example-${n}`));

        const one = await http(w, 'GET', '/api/servers/example');
        assert.equal(one.status, 200);
        assert.equal(one.json.data.name, 'example');
        assert.equal(one.json.data.replicas[0].tools, EXAMPLE_TOOLS.length);

        const call = await http(w, 'POST', '/api/tools/call/example',
                                { body: { toolName: 'echo', arguments: { text: 'rest' } } });
        assert.equal(call.status, 200, call.text);
        assert.equal(call.json.success, true);
        assert.deepEqual(call.json.data.content, [{ type: 'text', text: 'rest' }]);
        assert.equal(call.json.data.isError, false);

        const add = await http(w, 'POST', '/api/tools/call/example',
                               { body: { toolName: 'example-add', arguments: { a: 1, b: 2 } } });
        assert.equal(add.status, 200, add.text);
        assert.deepEqual(add.json.data.structuredContent, { sum: 3 });

        const missingServer = await http(w, 'GET', '/api/servers/nope');
        assert.equal(missingServer.status, 404);
        assert.equal(missingServer.json.success, false);
        const unknown = await http(w, 'POST', '/api/tools/call/nope',
                                   { body: { toolName: 'echo', arguments: {} } });
        assert.equal(unknown.status, 404, unknown.text);
        assert.equal(unknown.json.success, false);
        const noTool = await http(w, 'POST', '/api/tools/call/example', { body: { arguments: {} } });
        assert.equal(noTool.status, 400, noTool.text);
        assert.equal(noTool.json.success, false);
    });

    tracked('whoami reports the replica id the worker shows', async () => {
        const rep = await replicaOf(w, 'example');
        const { client } = await open(w, '/mcp/example');
        const r = await client.callTool({ name: 'whoami', arguments: {} });
        assert.equal(r.structuredContent.replica, rep.id);
        assert.equal(r.structuredContent.pid, rep.pid);
    });

    tracked('kill -9 of the server: the replica restarts, new sessions work', async (t) => {
        const rep0 = await replicaOf(w, 'example');
        const old = await connect(w, '/mcp/example');
        clients.push(old);
        assert.equal(text(await old.client.callTool({ name: 'echo', arguments: { text: 'pre' } })), 'pre');
        // A call in flight when the process dies must end, not hang.
        const inflight = old.client.callTool({ name: 'slow', arguments: { ms: 5000, steps: 5 } },
                                             undefined, { timeout: 20000 })
            .then((r) => `result "${text(r)}"${r.isError ? ' (isError)' : ''}`,
                  (e) => `error ${e.code ?? ''} ${e.message}`);
        await sleep(300);
        const t0 = Date.now();
        process.kill(rep0.pid, 'SIGKILL');
        const rep1 = await waitFor('replica restarted', async () => {
            const r = await replicaOf(w, 'example');
            return r.pid > 0 && r.pid !== rep0.pid && r.status === 'running' ? r : undefined;
        }, 15000);
        remember(rep1.pid);
        t.diagnostic(`figure: replica restart after kill -9: pid ${rep0.pid} -> ${rep1.pid} ` +
                     `in ${Date.now() - t0} ms, restarts ${rep0.restarts} -> ${rep1.restarts}`);
        assert.equal(rep1.restarts, rep0.restarts + 1);
        assert.equal(rep1.id, rep0.id);

        const inflightOutcome = await inflight;
        t.diagnostic(`figure: call in flight at the kill: ${inflightOutcome}`);
        assert.doesNotMatch(inflightOutcome, /timed out/i, 'the in-flight call was answered');

        const fresh = await open(w, '/mcp/example');
        const who = await fresh.client.callTool({ name: 'whoami', arguments: {} });
        assert.equal(who.structuredContent.pid, rep1.pid);
        assert.equal(text(await fresh.client.callTool({ name: 'echo', arguments: { text: 'post' } })),
                     'post');

        let outcome;
        try {
            const r = await old.client.callTool({ name: 'echo', arguments: { text: 'old' } });
            assert.equal(text(r), 'old');
            outcome = 'succeeded';
        } catch (e) {
            assert.ok(e instanceof McpError || typeof e.code === 'number', `unexpected error: ${e}`);
            outcome = `failed with ${e instanceof McpError ? 'JSON-RPC' : 'HTTP'} error ${e.code}: ${e.message}`;
        }
        t.diagnostic(`figure: old session's next call after the restart: ${outcome}`);
        const h = await http(w, 'GET', '/health');
        assert.equal(h.json.servers.connected, 2);
    });

    tracked('SIGTERM: worker exits 0 and leaves no process behind', async (t) => {
        await Promise.all(clients.splice(0).map(disconnect));
        // One session stays open, with a call in flight and its GET stream.
        const busy = await connect(w, '/mcp/example');
        const inflight = busy.client.callTool({ name: 'slow', arguments: { ms: 20000, steps: 2 } },
                                              undefined, { timeout: 30000 })
            .then(() => 'result', (e) => `error ${e.code ?? ''} ${e.message}`);
        await sleep(200);
        const kids = descendants(w.pid);
        const replicaPids = (await http(w, 'GET', '/api/servers')).json.data.map((s) => s.replicas[0].pid);
        for (const p of replicaPids)
            assert.ok(kids.includes(p), `replica pid ${p} is a child of the worker (${kids})`);
        const t0 = Date.now();
        const { code, signal } = await stopWorker(w);
        t.diagnostic(`figure: graceful stop took ${Date.now() - t0} ms, exit code ${code}`);
        assert.equal(signal, null);
        assert.equal(code, 0);
        assert.ok(w.lines.some((l) => l.includes('event=workerd_exit')), 'workerd_exit logged');
        const left = kids.filter(alive);
        t.diagnostic(`figure: processes left after stop: ${left.length} of ${kids.length}`);
        assert.deepEqual(left, [], `left behind: ${left.map((p) => `${p} (${procState(p)})`)}`);
        const outcome = await inflight;
        t.diagnostic(`figure: call in flight at SIGTERM: ${outcome}`);
        assert.match(outcome, /^error/, 'the call in flight failed instead of hanging');
        await busy.client.close().catch(() => {});
    });
});
