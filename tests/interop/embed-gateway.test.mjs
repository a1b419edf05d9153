// examples/embed-gateway: a gateway with its own HTTP server and client that
// embeds libmcphub-cluster (registry, balancer, affinity, jsonrpc), in front
// of two standalone mcphub-workerd running the example server.  The official
// MCP TypeScript SDK client talks to the gateway; no mocks.
//
// Run by tests/integration/run (make check), or alone from the repository root:
//   MCPHUB_BUILD=build node --test tests/interop/embed-gateway.test.mjs
// It builds nothing: `make all` first.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync,
         writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BUILD = resolve(ROOT, process.env.MCPHUB_BUILD || 'build');
const WORKERD = join(BUILD, 'mcphub-workerd');
const GATEWAY = join(BUILD, 'examples/embed-gateway');
const EXAMPLE = join(BUILD, 'examples/servers/mcp-example-server');
const TMP = mkdtempSync(join(process.env.MCPHUB_IT_TMP || tmpdir(), 'embed-gateway-'));
const PIDFILE = process.env.MCPHUB_IT_PIDFILE; // the driver kills what is listed here
const TOKEN = 'it-embed-token-7c1d';
const EXAMPLE_TOOLS = ['add', 'echo', 'exit', 'fail', 'log', 'sample', 'slow', 'toggle_extra',
                       'whoami'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let failures = 0; // logs are kept when a test failed
function tracked(name, fn) {
    return test(name, async (t) => {
        try {
            await fn(t);
        } catch (e) {
            failures++;
            throw e;
        }
    });
}

// Recorded as "pid starttime" (field 22 of /proc/pid/stat): the driver never kills a reused pid.
function remember(pid) {
    if (!PIDFILE || !pid)
        return;
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        appendFileSync(PIDFILE, `${pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
    } catch { /* already gone */ }
}

function alive(pid) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat[stat.lastIndexOf(')') + 2] !== 'Z';
    } catch {
        return false;
    }
}

async function waitFor(what, fn, ms = 15000) {
    const deadline = Date.now() + ms;
    for (;;) {
        const v = await fn().catch(() => undefined);
        if (v)
            return v;
        if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
    }
}

// ---- processes --------------------------------------------------------------------------

const children = new Set();
process.on('exit', () => {
    for (const c of children)
        if (c.exitCode === null && c.signalCode === null)
            c.kill('SIGKILL');
});

// Start a daemon; resolves with its port once `event=<startEvent> ... port=N` is logged.
async function start(name, bin, args, startEvent, env = {}) {
    const logPath = join(TMP, `${name}.log`);
    const logFile = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'],
                                     env: { ...process.env, MCPHUB_LOG_LEVEL: 'info', ...env } });
    remember(child.pid);
    children.add(child);
    const p = { name, child, pid: child.pid, lines: [], port: 0, base: '' };
    p.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
    let partial = '';
    const onData = (buf) => {
        logFile.write(buf);
        const lines = (partial + buf.toString()).split('\n');
        partial = lines.pop();
        p.lines.push(...lines);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', () => logFile.end());
    const re = new RegExp(`event=${startEvent} .*port=(\\d+)`);
    const deadline = Date.now() + 10000;
    while (!p.port) {
        const m = p.lines.map((l) => re.exec(l)).find(Boolean);
        if (m)
            p.port = Number(m[1]);
        else if (child.exitCode !== null || Date.now() > deadline)
            throw new Error(`${name} did not start:\n${p.lines.slice(-20).join('\n')}`);
        else
            await sleep(20);
    }
    p.base = `http://127.0.0.1:${p.port}`;
    return p;
}

async function startWorker(name, port = 0) {
    const settings = join(TMP, `${name}.settings.json`);
    writeFileSync(settings, JSON.stringify({ mcpServers: { example: { command: EXAMPLE, args: [] } } }));
    const w = await start(name, WORKERD, ['-c', settings, '--standalone', '--host', '127.0.0.1',
                                          '--port', String(port), '--node-id', name,
                                          '--token', TOKEN], 'workerd_start');
    const rep = await waitFor(`${name}: example running`, async () => {
        const r = await fetch(`${w.base}/api/servers/example`, { headers: { 'x-cluster-token': TOKEN } });
        const rep0 = (await r.json()).data.replicas[0];
        return rep0.status === 'running' && rep0;
    });
    remember(rep.pid);
    w.serverPid = rep.pid; // the example server's process: whoami reports it
    return w;
}

// A gateway in front of the given workers; the token comes through the environment.
function startGateway(name, ws, checkInterval) {
    const args = ['--host', '127.0.0.1', '--port', '0', '--check-interval', String(checkInterval)];
    for (const w of ws)
        args.push('--worker', `${w.name}=127.0.0.1:${w.port}/example`);
    return start(name, GATEWAY, args, 'gateway_start', { CLUSTER_TOKEN: TOKEN });
}

async function stop(p, signal = 'SIGTERM') {
    if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill(signal);
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
        await p.exited;
        clearTimeout(timer);
    }
    return p.exited;
}

// ---- MCP --------------------------------------------------------------------------------

async function connect(gw) {
    const client = new Client({ name: 'embed-gateway-it', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL('/mcp/example', gw.base));
    await client.connect(transport);
    return { client, transport };
}

async function disconnect(c) {
    await c.transport.terminateSession().catch(() => {});
    await c.client.close().catch(() => {});
}

const text = (res) => res.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
const whoami = async (c) => (await c.client.callTool({ name: 'whoami', arguments: {} }))
    .structuredContent.pid;
const logged = (p, re) => p.lines.some((l) => re.test(l));

// ---- the tests -------------------------------------------------------------------------------

describe('examples/embed-gateway', { timeout: 100000 }, () => {
    let wa, wb;      // the two workers
    let gw;          // the gateway with passive checks only (--check-interval 0)
    let gwa;         // the gateway that also probes /health every 200 ms
    let c1, c2;      // one session on each worker
    let victim, survivor;
    const clients = [];
    const open = async (g) => {
        const c = await connect(g);
        clients.push(c);
        return c;
    };

    before(async () => {
        failures++; // until all is up
        for (const f of [WORKERD, GATEWAY, EXAMPLE])
            assert.ok(existsSync(f), `${f} missing: run make all`);
        [wa, wb] = await Promise.all([startWorker('wa'), startWorker('wb')]);
        gw = await startGateway('gateway', [wa, wb], 0);
        gwa = await startGateway('gateway-active', [wa, wb], 200);
        failures--;
    });

    after(async () => {
        await Promise.all(clients.map(disconnect));
        const results = {};
        for (const p of [gw, gwa, wa, wb])
            if (p)
                results[p.name] = await stop(p);
        if (failures === 0 && process.env.MCPHUB_IT_KEEP !== '1')
            rmSync(TMP, { recursive: true, force: true });
        else
            console.error(`embed-gateway logs kept in ${TMP}`);
        // The gateways stop cleanly on SIGTERM.
        for (const name of ['gateway', 'gateway-active'])
            if (results[name])
                assert.deepEqual(results[name], { code: 0, signal: null }, name);
    });

    tracked('the SDK client lists tools and calls echo, add and slow through the gateway', async () => {
        const c = await connect(gw);
        assert.equal(c.client.getServerVersion().name, 'example');
        assert.ok(c.transport.sessionId, 'the worker issued a session id, relayed');
        const names = (await c.client.listTools()).tools.map((t) => t.name).sort();
        assert.deepEqual(names, EXAMPLE_TOOLS);
        const echo = await c.client.callTool({ name: 'echo', arguments: { text: 'héllo\nworld "q"' } });
        assert.equal(text(echo), 'héllo\nworld "q"');
        assert.ok(!echo.isError);
        const add = await c.client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
        assert.deepEqual(add.structuredContent, { sum: 42 });
        // An SSE answer: progress notifications relayed before the result.
        const seen = [];
        const slow = await c.client.callTool({ name: 'slow', arguments: { ms: 300, steps: 3 } },
                                             undefined, { onprogress: (p) => seen.push(p.progress) });
        assert.equal(text(slow), 'slept 300 ms in 3 steps');
        assert.deepEqual(seen, [1, 2, 3]);
        // DELETE ends the session on the worker and in the gateway's affinity table.
        const sid = c.transport.sessionId;
        await disconnect(c);
        const r = await fetch(`${gw.base}/mcp/example`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                       'mcp-session-id': sid },
            body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }) });
        assert.equal(r.status, 404);
        assert.deepEqual(await r.json(), { jsonrpc: '2.0', id: 9,
                                           error: { code: -32001, message: 'Session not found' } });
    });

    tracked('the gateway answers bad requests itself (jsonrpc classify, unknown server)', async () => {
        const post = (path, body, headers = {}) => fetch(`${gw.base}${path}`, {
            method: 'POST', body,
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
                       ...headers } });
        let r = await post('/mcp/example', '{"jsonrpc":');
        assert.equal(r.status, 400);
        assert.equal((await r.json()).error.code, -32700);
        r = await post('/mcp/example', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
        assert.equal(r.status, 400, 'no session id and not initialize');
        r = await post('/mcp/nosuch', JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'initialize',
                                                       params: { protocolVersion: '2025-06-18',
                                                                 capabilities: {},
                                                                 clientInfo: { name: 'x', version: '1' } } }));
        assert.equal(r.status, 404);
        assert.deepEqual(await r.json(), { jsonrpc: '2.0', id: 3,
                                           error: { code: -32001, message: 'Unknown server: nosuch' } });
    });

    tracked('least connections: two sessions land on the two workers and stay there', async () => {
        c1 = await open(gw);
        c2 = await open(gw);
        const p1 = await whoami(c1), p2 = await whoami(c2);
        const pids = [wa.serverPid, wb.serverPid];
        assert.ok(pids.includes(p1) && pids.includes(p2), `${p1} ${p2} in ${pids}`);
        assert.notEqual(p1, p2, 'the second session went to the other worker');
        for (let i = 0; i < 5; i++) {
            assert.equal(await whoami(c1), p1, 'affinity');
            assert.equal(await whoami(c2), p2, 'affinity');
        }
        [victim, survivor] = p1 === wa.serverPid ? [wa, wb] : [wb, wa];
    });

    tracked('kill -9 of a worker: marked down on the failed forward, new sessions use the other', async (t) => {
        assert.ok(victim, 'the previous test ran');
        await stop(victim, 'SIGKILL');
        // Its example server sees EOF and exits: nothing left behind.
        await waitFor('the victim\'s example server to exit', async () => !alive(victim.serverPid));

        // The session bound to the dead worker: the gateway cannot forward,
        // reports a failed check and answers 404 (start a new session).
        await assert.rejects(c1.client.callTool({ name: 'echo', arguments: { text: 'x' } }),
                             /404|Session not found/);
        // (Its log comes through a pipe, maybe after the answer: wait for it.)
        await waitFor('the gateway to log the failed forward', async () =>
            logged(gw, new RegExp(`event=forward_failed node=${victim.name} `)), 5000);
        await waitFor('the gateway to mark the worker unhealthy in its registry', async () =>
            logged(gw, new RegExp(`event=node_status node=${victim.name} old=online ` +
                                  'new=unhealthy reason=check-failed')), 5000);

        // New sessions: all on the survivor, every call succeeds.
        for (let i = 0; i < 4; i++) {
            const c = await open(gw);
            assert.equal(text(await c.client.callTool({ name: 'echo', arguments: { text: `after ${i}` } })),
                         `after ${i}`);
            assert.equal(await whoami(c), survivor.serverPid);
        }
        assert.equal(await whoami(c2), survivor.serverPid, 'the survivor\'s session is unaffected');
        t.diagnostic(`figure: killed ${victim.name}; 4 new sessions served by ${survivor.name}`);
    });

    tracked('active checks: a worker that comes back on its address is used again', async (t) => {
        assert.ok(victim, 'the previous tests ran');
        await waitFor('the probing gateway to see the worker gone', async () =>
            logged(gwa, new RegExp(`event=node_status node=${victim.name} old=online new=unhealthy`)));
        const back = await startWorker(victim.name, victim.port);
        if (victim === wa) wa = back; else wb = back;
        await waitFor('the probing gateway to see it back', async () =>
            logged(gwa, new RegExp(`event=node_status node=${back.name} .*new=online reason=recovered`)));
        // The probing gateway has no session yet: least connections puts one on each.
        const a = await open(gwa), b = await open(gwa);
        assert.deepEqual([await whoami(a), await whoami(b)].sort(),
                         [back.serverPid, survivor.serverPid].sort());
        // The passive gateway never probes: for it the worker stays down.
        const c = await open(gw);
        assert.equal(await whoami(c), survivor.serverPid);
        t.diagnostic(`figure: ${back.name} back on port ${back.port}, used again by the probing gateway`);
    });
});
