// Hostile input against a running cluster: mcphub-masterd and one
// mcphub-workerd (cluster mode, with a token) on loopback, our C example
// server as the one replica.  Every row of the "Hostile input" table in
// tests/README.md is a test here: the bad input, the answer it must get,
// and afterwards the same cluster (GET /api/cluster/status, /nodes and
// /replicas, the worker's own replicas and their pids), both daemons alive
// and answering /health, and an MCP session opened before the first row
// still answering.  Malformed HTTP goes through raw sockets (node:net).
//
// The slowloris rows run for the whole script: their connections are
// opened as soon as each daemon listens, trickle bytes while every other
// row runs, and the last test waits for the daemons to close them (the
// HTTP server's idle timeout, 60 s, which neither daemon lets us lower).
//
// Run by tests/integration/run (make check), or alone from the repository root:
//   MCPHUB_BUILD=build node --test tests/interop/hostile.test.mjs
// Figures worth reading are printed as test diagnostics ("figure: ...").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import nodeHttp from 'node:http';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { EXAMPLE, MASTERD, MCP_HEADERS, OWN_TMP, TMP, WORKERD, alive, connect, descendants,
         disconnect, failures, http, remember, sleep, startDaemon, stopDaemon, text, tracked,
         waitFor } from './lib/harness.mjs';

const TOKEN = 'it-hostile-token-93d1';
const ADMIN = { authorization: `Bearer ${TOKEN}` };  // the cluster token as admin key
const CT = { 'x-cluster-token': TOKEN };             // the internal API's header
const SETTINGS = join(TMP, 'hostile.settings.json');
const STATE_DIR = join(TMP, 'hostile-state');
const IDLE_TIMEOUT_MS = 60000;   // http_server.h's idle_timeout_s default; no flag changes it
const MAX_SESSIONS = 10000;      // mcp_http.h's max_sessions default, the master's bound
const BODY_LIMIT = 1048576;      // systemConfig.routing.jsonBodyLimit default ("1mb")
const MiB = 1024 * 1024;

const cluster = { master: null, worker: null };
const rows = [];                 // [row, what it got], printed at the end

// ---- raw HTTP -------------------------------------------------------------------------------

// Write `data` on a fresh connection (from `localAddress` if given) and
// collect the answer until the server closes; {status, body, json, why}.
// The daemons close the connection after every error they answer
// themselves; others get "Connection: close" from the caller.
function raw(d, data, { timeoutMs = 10000, localAddress } = {}) {
    return new Promise((resolve) => {
        const s = net.connect({ port: d.port, host: '127.0.0.1', localAddress });
        let got = Buffer.alloc(0);
        let done = false;
        const finish = (why) => {
            if (done)
                return;
            done = true;
            clearTimeout(timer);
            s.destroy();
            const t = got.toString('utf8');
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(t);
            const i = t.indexOf('\r\n\r\n');
            const body = i >= 0 ? t.slice(i + 4) : '';
            let json;
            try { json = JSON.parse(body); } catch { json = undefined; }
            resolve({ status: m ? Number(m[1]) : 0, head: i >= 0 ? t.slice(0, i) : t, body, json, why });
        };
        const timer = setTimeout(() => finish('timeout'), timeoutMs);
        s.on('connect', () => s.write(data));
        s.on('data', (b) => { got = Buffer.concat([got, b]); });
        s.on('error', (e) => finish(e.code)); // a reset after the answer: keep what came
        s.on('close', () => finish('closed'));
    });
}

const HOST = 'Host: 127.0.0.1\r\n';
const rawGet = (d, target, extra = '') =>
    raw(d, `GET ${target} HTTP/1.1\r\n${HOST}Authorization: Bearer ${TOKEN}\r\n` +
           `X-Cluster-Token: ${TOKEN}\r\nConnection: close\r\n${extra}\r\n`);

// POST a body given as bytes (fetch; the harness's http() sends strings).
async function postBytes(d, path, bytes, headers = {}) {
    const res = await fetch(d.base + path, {
        method: 'POST', body: bytes, signal: AbortSignal.timeout(5000),
        headers: { 'content-type': 'application/json', ...MCP_HEADERS, ...headers } });
    const t = await res.text();
    let json;
    try { json = JSON.parse(t); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text: t, json };
}

// ---- processes --------------------------------------------------------------------------------

function status(pid, field) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m[1]) * 1024;
}
const rss = (d) => status(d.pid, 'VmRSS');
const hwm = (d) => status(d.pid, 'VmHWM');   // peak RSS
const mib = (n) => `${(n / MiB).toFixed(1)} MiB`;
// A sanitizer build (tests/README.md) keeps freed memory in quarantine and
// pads every block: its RSS says nothing about ours, so the RSS bounds are
// only printed there (its leak check runs at exit instead).
const sanitized = (d) => /libasan|libclang_rt\.asan/.test(readFileSync(`/proc/${d.pid}/maps`, 'utf8'));

// ---- the cluster and what must not change -----------------------------------------------------

const api = async (path) => {
    const r = await http(cluster.master, 'GET', path, { headers: ADMIN });
    assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
    assert.equal(r.json.success, true, r.text);
    return r.json.data;
};

// What a hostile request must leave alone.  Volatile fields (heartbeat
// times, metrics, session counts) are left out.  registeredAt and since are
// rendered from the monotonic clock at each call (wall now - age), so they
// may move by a millisecond or two: kept as numbers and compared within
// 50 ms by unchanged().
async function view() {
    const st = await api('/api/cluster/status');
    const ns = await api('/api/cluster/nodes');
    const reps = await api('/api/cluster/replicas');
    const ws = await http(cluster.worker, 'GET', '/api/servers', { headers: CT });
    assert.equal(ws.status, 200, ws.text);
    return {
        status: { nodes: st.nodes, replicas: st.replicas, servers: st.servers,
                  configVersion: st.configVersion, failovers: st.failovers },
        nodes: ns.map((n) => ({ id: n.id, role: n.role, host: n.host, port: n.port,
                                internalPort: n.internalPort, status: n.status,
                                registeredAt: Date.parse(n.registeredAt), weight: n.weight,
                                maxServers: n.maxServers, configVersion: n.configVersion,
                                serverCount: n.serverCount, replicas: n.replicas })),
        replicas: reps.map((s) => ({ server: s.server, replicas: s.replicas, running: s.running,
                                     instances: s.instances.map((i) => ({ id: i.id, node: i.node,
                                                                          status: i.status,
                                                                          since: Date.parse(i.since) })) })),
        workerReplicas: ws.json.data.flatMap((s) => s.replicas.map((r) => ({
            server: s.name, id: r.id, pid: r.pid, status: r.status, restarts: r.restarts }))),
    };
}

let baseline;    // view() once the cluster formed
let existing;    // an SDK session on the master's /mcp, opened before the first row
let checks = 0;  // how many times unchanged() passed (other clients served)
let checksDuringSlowloris = 0; // of those, while every slowloris client was still open
const slow = []; // the slowloris clients

async function echo(c) {
    const token = `still-here-${Math.random().toString(36).slice(2)}`;
    const r = await c.client.callTool({ name: 'example-echo', arguments: { text: token } });
    assert.equal(text(r), token, 'the existing session answers');
}

// After every row: both daemons alive and healthy, the cluster as it was,
// the session opened before the first row still answering.
async function unchanged(what) {
    for (const d of [cluster.master, cluster.worker]) {
        assert.ok(alive(d.pid), `${d.name} is alive after ${what}`);
        const h = await http(d, 'GET', '/health');
        assert.equal(h.status, 200, `${d.name} /health after ${what}: ${h.text}`);
        assert.equal(h.json.status, 'healthy', h.text);
    }
    const now = await view();
    const near = (a, b) => Number.isFinite(a) && Math.abs(a - b) <= 50 ? b : a;
    now.nodes.forEach((n, i) => { n.registeredAt = near(n.registeredAt, baseline.nodes[i]?.registeredAt); });
    now.replicas.forEach((s, i) => s.instances.forEach((x, j) => {
        x.since = near(x.since, baseline.replicas[i]?.instances[j]?.since);
    }));
    assert.deepEqual(now, baseline, `the cluster changed after ${what}`);
    await echo(existing);
    checks++;
    if (slow.length && slow.every((s) => s.closedAt === 0))
        checksDuringSlowloris++;
}

// ---- slowloris ---------------------------------------------------------------------------------

// A client sending one byte every 100-500 ms: of a request head that never
// ends in time (header), or of a body after a complete head (body).
function slowloris(d, kind) {
    const pad = 'x'.repeat(3000);  // 60 s at most 600 bytes: the request never completes
    const head = `GET /health HTTP/1.1\r\n${HOST}X-Slow: ${pad}\r\n\r\n`;
    const bodyHead = `POST /mcp HTTP/1.1\r\n${HOST}Content-Type: application/json\r\n` +
                     `Accept: application/json, text/event-stream\r\nContent-Length: ${pad.length}\r\n\r\n`;
    const drip = kind === 'header' ? head : pad;
    const sl = { label: `${d.name} (${kind})`, sent: 0, got: '', openedAt: 0, closedAt: 0 };
    sl.closed = new Promise((resolve) => {
        const s = net.connect(d.port, '127.0.0.1');
        sl.socket = s;
        const tick = () => {
            if (s.destroyed || sl.sent >= drip.length)
                return;
            s.write(drip[sl.sent++]);
            sl.timer = setTimeout(tick, 100 + Math.floor(Math.random() * 400));
        };
        s.on('connect', () => {
            sl.openedAt = Date.now();
            if (kind === 'body')
                s.write(bodyHead);
            tick();
        });
        s.on('data', (b) => { sl.got += b.toString(); });
        s.on('error', () => {});
        s.on('close', () => {
            sl.closedAt = Date.now();
            clearTimeout(sl.timer);
            resolve();
        });
    });
    return sl;
}

// ---- the tests ----------------------------------------------------------------------------------

describe('hostile input: mcphub-masterd + one mcphub-workerd', { timeout: 110000 }, () => {
    const t0 = Date.now();

    before(async () => {
        failures.count++; // until the cluster is up: keep the logs if it does not form
        for (const f of [MASTERD, WORKERD, EXAMPLE])
            assert.ok(existsSync(f), `${f} missing: run make all`);
        rmSync(STATE_DIR, { recursive: true, force: true });
        mkdirSync(STATE_DIR, { recursive: true });
        writeFileSync(SETTINGS, JSON.stringify({
            // options.timeout: a request the server never answers ends with
            // an error after 2 s (the runner's per-request deadline)
            mcpServers: { example: { command: EXAMPLE, args: [], replicas: 1, options: { timeout: 2000 } } },
            cluster: { enabled: true, token: TOKEN,
                       master: { heartbeatInterval: 1000, heartbeatTimeout: 4000 } },
        }, null, 2));
        cluster.master = await startDaemon('hostile-master', MASTERD, [
            '-c', SETTINGS, '--host', '127.0.0.1', '--port', '0', '--state-dir', STATE_DIR,
        ], { startEvent: 'masterd_start' });
        // The slowloris clients start now: their 60 s run while every row does.
        slow.push(slowloris(cluster.master, 'header'), slowloris(cluster.master, 'body'));
        cluster.worker = await startDaemon('hostile-w1', WORKERD, [
            '-c', SETTINGS, '--host', '127.0.0.1', '--port', '0', '--node-id', 'w1',
            '--master-url', cluster.master.base,
        ], { startEvent: 'workerd_start' });
        slow.push(slowloris(cluster.worker, 'header'));
        await waitFor('w1 online, example running', async () => {
            const r = await api('/api/cluster/replicas');
            return r.length === 1 && r[0].running === 1 && r[0].instances[0]?.status === 'running';
        }, 30000);
        for (const p of descendants(cluster.worker.pid))
            remember(p);
        existing = await connect(cluster.master, '/mcp');
        // the master fills its tool catalog from the replica shortly after it runs
        await waitFor('example-echo in the master\'s catalog', async () =>
            (await existing.client.listTools()).tools.some((x) => x.name === 'example-echo'), 15000, 100);
        await echo(existing);
        baseline = await view();
        assert.equal(baseline.nodes.length, 1);
        assert.equal(baseline.workerReplicas.length, 1);
        failures.count--;
    });

    after(async () => {
        for (const sl of slow)
            sl.socket?.destroy();
        if (existing)
            await disconnect(existing);
        const kids = cluster.worker ? descendants(cluster.worker.pid) : [];
        const results = {};
        if (cluster.worker)
            results.worker = await stopDaemon(cluster.worker);
        if (cluster.master)
            results.master = await stopDaemon(cluster.master);
        const left = kids.filter(alive);
        for (const p of left)
            try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
        if (left.length || Object.values(results).some((r) => r.code !== 0 || r.signal !== null))
            failures.count++;
        if (OWN_TMP && failures.count === 0)
            rmSync(TMP, { recursive: true, force: true });
        else if (OWN_TMP)
            console.error(`logs kept in ${TMP}`);
        for (const [name, r] of Object.entries(results))
            assert.deepEqual(r, { code: 0, signal: null }, `${name} exit`);
        assert.deepEqual(left, [], 'replica processes left after the worker stopped');
    });

    tracked('a 100 MiB body: 413 before it is read, RSS does not grow', async (t) => {
        const TOTAL = 100 * MiB;
        const FIRST = 64 * 1024;
        // Content-Length announces 100 MiB: the head and 64 KiB go out, then
        // we wait for the answer before sending more.
        const announced = (d, path, headers = '') => new Promise((resolve) => {
            const s = net.connect(d.port, '127.0.0.1');
            const r = { sent: 0, got: '', answeredAfter: -1 };
            const chunk = Buffer.alloc(FIRST, 0x20);
            let done = false;
            const finish = () => {
                if (done)
                    return;
                done = true;
                clearTimeout(timer);
                s.destroy();
                resolve(r);
            };
            const timer = setTimeout(finish, 10000);
            const pump = () => {  // the rest, as long as the server takes it
                while (!s.destroyed && r.sent < TOTAL) {
                    r.sent += chunk.length;
                    if (!s.write(chunk)) {
                        s.once('drain', pump);
                        return;
                    }
                }
            };
            s.on('connect', () => {
                s.write(`POST ${path} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\n${headers}` +
                        `Content-Length: ${TOTAL}\r\n\r\n`);
                s.write(chunk);
                r.sent = chunk.length;
            });
            s.on('data', (b) => {
                if (r.answeredAfter < 0) {
                    r.answeredAfter = r.sent;
                    setImmediate(pump);
                }
                r.got += b.toString();
            });
            s.on('error', finish);
            s.on('close', finish);
        });
        // Chunked: the length is not known up front; the server discards
        // what is over the limit and answers at the end.
        const chunked = (d, path) => new Promise((resolve) => {
            const s = net.connect(d.port, '127.0.0.1');
            const r = { sent: 0, got: '' };
            const piece = Buffer.alloc(MiB, 0x20);
            const framed = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece,
                                          Buffer.from('\r\n')]);
            const timer = setTimeout(() => s.destroy(), 20000);
            const pump = () => {
                while (!s.destroyed && r.sent < TOTAL) {
                    r.sent += piece.length;
                    if (!s.write(framed)) {
                        s.once('drain', pump);
                        return;
                    }
                }
                if (!s.destroyed)
                    s.write('0\r\n\r\n');
            };
            s.on('connect', () => {
                s.write(`POST ${path} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\n` +
                        'Transfer-Encoding: chunked\r\n\r\n');
                pump();
            });
            s.on('data', (b) => { r.got += b.toString(); });
            s.on('error', () => {});
            s.on('close', () => { clearTimeout(timer); resolve(r); });
        });
        const limitMsg = `{"error":"request body exceeds the ${BODY_LIMIT}-byte limit"}`;
        for (const [d, path, headers] of [[cluster.master, '/mcp', ''],
                                          [cluster.worker, '/mcp/example', `X-Cluster-Token: ${TOKEN}\r\n`]]) {
            const rss0 = rss(d);
            const r = await announced(d, path, headers);
            assert.match(r.got, /^HTTP\/1\.1 413 /, `${d.name}: ${r.got}`);
            assert.ok(r.got.endsWith(limitMsg), r.got);
            assert.equal(r.answeredAfter, FIRST, 'answered before more than the first 64 KiB was sent');
            assert.ok(r.sent < TOTAL / 4, `${d.name} did not read the body: ${mib(r.sent)} went out`);
            const c = await chunked(d, path);
            assert.match(c.got, /^HTTP\/1\.1 413 /, `${d.name} chunked: ${c.got}`);
            assert.ok(c.got.endsWith(limitMsg), c.got);
            await sleep(100);
            const grew = rss(d) - rss0, peak = hwm(d) - rss0;
            t.diagnostic(`figure: 100 MiB body to ${d.name}: 413 after ${mib(r.answeredAfter)} sent ` +
                         `(${mib(r.sent)} before the close); chunked: 413 after ${mib(c.sent)}; ` +
                         `RSS ${mib(rss0)} -> ${mib(rss0 + grew)}, peak ${mib(rss0 + peak)}`);
            if (!sanitized(d))
                assert.ok(grew < 16 * MiB && peak < 16 * MiB,
                          `${d.name} RSS grew by ${mib(grew)} (peak +${mib(peak)})`);
        }
        rows.push(['100 MiB body (Content-Length, chunked)', `413 "request body exceeds the ${BODY_LIMIT}-byte limit"`]);
        await unchanged('a 100 MiB body');
    });

    tracked('invalid UTF-8 and lone surrogates in JSON strings: -32700, no session, no hang', async (t) => {
        const init = (name) => Buffer.concat([
            Buffer.from('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":' +
                        '"2025-06-18","capabilities":{},"clientInfo":{"name":"'),
            name, Buffer.from('","version":"1"}}}')]);
        const call = (id, textBytes) => Buffer.concat([
            Buffer.from(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"example-echo",` +
                        '"arguments":{"text":"'), textBytes, Buffer.from('"}}}')]);
        const bad = {
            'a 0xFF byte': Buffer.from([0x61, 0xff, 0x62]),
            'a truncated sequence': Buffer.from([0x78, 0xc3, 0x28]),
            'an overlong /': Buffer.from([0xc0, 0xaf]),
            'a UTF-8-encoded surrogate': Buffer.from([0xed, 0xa0, 0x80]),
            'a lone \\ud800 escape': Buffer.from('x\\ud800y'),
            'a lone \\udc00 escape': Buffer.from('\\udc00'),
            'a high surrogate escape at the end': Buffer.from('\\ud83d'),
        };
        const seen = new Set();
        const expect = (r, what) => {
            assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
            assert.equal(r.json?.error?.code, -32700, `${what}: ${r.text}`);
            assert.match(r.json.error.message, /UTF-8|surrogate/, r.text);
            assert.equal(r.headers.get('mcp-session-id'), null, `${what}: no session`);
            seen.add(r.json.error.message);
        };
        // initialize: no session is made
        for (const [what, bytes] of Object.entries(bad))
            expect(await postBytes(cluster.master, '/mcp', init(bytes)), `initialize with ${what}`);

        // inside a session, on the master and straight to the worker; the
        // same id then works: nothing stays in flight.  (A lone surrogate
        // escape used to reach the replica, which could not parse the line
        // and never answered: the call hung and its id stayed taken.)
        for (const [d, path, headers, tool] of [[cluster.master, '/mcp', {}, 'example-echo'],
                                                [cluster.worker, '/mcp/example', CT, 'echo']]) {
            const opened = await postBytes(d, path, init(Buffer.from('hostile')), headers);
            assert.equal(opened.status, 200, opened.text);
            const sid = opened.headers.get('mcp-session-id');
            const h = { ...headers, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
            try {
                for (const [what, bytes] of Object.entries(bad)) {
                    const body = call(7, bytes).toString('latin1').replace('example-echo', tool);
                    expect(await postBytes(d, path, Buffer.from(body, 'latin1'), h),
                           `${d.name} tools/call with ${what}`);
                }
                const ok = await postBytes(d, path, Buffer.from(
                    call(7, Buffer.from('fine \\ud83d\\ude00 \\\\ud800')).toString().replace('example-echo', tool)), h);
                assert.equal(ok.status, 200, ok.text);
                assert.equal(ok.json?.result?.content?.[0]?.text, 'fine 😀 \\ud800', ok.text);
            } finally {
                const del = await http(d, 'DELETE', path, { headers: h });
                assert.equal(del.status, 200, del.text);
            }
        }
        t.diagnostic(`figure: invalid UTF-8: ${[...seen].join('; ')}`);
        rows.push(['invalid UTF-8 in JSON strings', `400 -32700 ${[...seen].map((m) => `"${m}"`).join(' / ')}`]);
        await unchanged('invalid UTF-8');
    });

    // Valid JSON that the replica's parser refuses -- here numbers jansson
    // rejects, an integer beyond 64 bits and a double that overflows --
    // reaches the stdio server, which cannot parse the line and so never
    // answers; the server's options.timeout (2 s in these settings, 60 s by
    // default) ends the call with an error instead of leaving it hanging.  Lone surrogate escapes, the same failure, are refused at the
    // transport since this script found them (the row above).  Plain test(),
    // not tracked(): a TODO failure must not keep the logs.
    test('numbers the replica cannot parse still get an answer', async (t) => {
        const opened = await postBytes(cluster.master, '/mcp', Buffer.from(JSON.stringify({
            jsonrpc: '2.0', id: 1, method: 'initialize',
            params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'h', version: '1' } } })));
        assert.equal(opened.status, 200, opened.text);
        const h = { 'mcp-session-id': opened.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-06-18' };
        const got = [];
        try {
            for (const [id, a] of [[2, '99999999999999999999'], [3, '1e400']]) {
                const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call",` +
                             `"params":{"name":"example-add","arguments":{"a":${a},"b":1}}}`;
                try {
                    const r = await fetch(cluster.master.base + '/mcp', {
                        method: 'POST', body, signal: AbortSignal.timeout(3000),
                        headers: { 'content-type': 'application/json', ...MCP_HEADERS, ...h } });
                    got.push(`${a}: ${r.status} ${(await r.text()).slice(0, 120)}`);
                } catch (e) {
                    got.push(`${a}: no answer in 3 s (${e.name})`);
                }
            }
        } finally {
            const del = await http(cluster.master, 'DELETE', '/mcp', { headers: h });
            assert.equal(del.status, 200, del.text);
        }
        t.diagnostic(`figure: numbers the replica cannot parse: ${got.join('; ')}`);
        await unchanged('numbers the replica cannot parse');
        const hung = got.filter((g) => g.includes('no answer'));
        if (hung.length)
            t.todo('known gap: a request the stdio server cannot parse is never answered (no request timeout)');
        assert.deepEqual(hung, []);
    });

    tracked('JSON nested 10,000 deep: a clear error, no crash', async () => {
        const arrays = '['.repeat(10000) + ']'.repeat(10000);
        const inParams = (method, extra = '') =>
            `{"jsonrpc":"2.0","id":1,"method":"${method}","params":{${extra}"x":` +
            '{"a":'.repeat(10000) + '1' + '}'.repeat(10000) + '}}';
        const deepMsg = 'nested deeper than 64 levels';
        const rpc = async (d, path, body, headers = {}) => {
            const r = await postBytes(d, path, Buffer.from(body), headers);
            assert.equal(r.status, 400, `${d.name} ${path}: ${r.text}`);
            assert.equal(r.json?.error?.code, -32600, r.text);
            assert.equal(r.json.error.message, deepMsg, r.text);
        };
        await rpc(cluster.master, '/mcp', arrays);
        await rpc(cluster.master, '/mcp', inParams('initialize'));
        await rpc(cluster.worker, '/mcp/example', inParams('initialize'), CT);
        const opened = await postBytes(cluster.master, '/mcp', Buffer.from(JSON.stringify({
            jsonrpc: '2.0', id: 1, method: 'initialize',
            params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'h', version: '1' } } })));
        const sid = opened.headers.get('mcp-session-id');
        await rpc(cluster.master, '/mcp', inParams('tools/call', '"name":"example-echo",'),
                  { 'mcp-session-id': sid });
        assert.equal((await http(cluster.master, 'DELETE', '/mcp', { headers: { 'mcp-session-id': sid } })).status, 200);
        // the internal API and the REST API parse JSON too
        for (const path of ['/internal/cluster/register', '/internal/cluster/heartbeat']) {
            const r = await http(cluster.master, 'POST', path, { body: arrays, headers: CT });
            assert.equal(r.status, 400, r.text);
            assert.match(r.json?.message, /nested too deeply/, r.text);
        }
        const w = await http(cluster.worker, 'POST', '/internal/servers/allocate', { body: arrays, headers: CT });
        assert.equal(w.status, 400, w.text);
        assert.match(w.json?.message, /nested too deeply/, w.text);
        const put = await http(cluster.master, 'PUT', '/api/cluster/replicas/example',
                               { body: `{"replicas":${arrays}}`, headers: ADMIN });
        assert.equal(put.status, 400, put.text);
        rows.push(['JSON nested 10,000 deep', `400 -32600 "${deepMsg}" (/mcp); 400 "... nested too deeply" (internal API)`]);
        await unchanged('deep JSON');
    });

    tracked('internal API: wrong or missing X-Cluster-Token -> 401', async () => {
        const [node] = baseline.nodes;
        const [rep] = baseline.workerReplicas;
        const register = { nodeId: 'w1', role: 'worker', host: node.host, port: node.port, replicas: [] };
        const heartbeat = { nodeId: 'w1', timestamp: Date.now(), replicas: [] };
        const msg = 'missing or invalid X-Cluster-Token';
        const cases = [
            [cluster.master, '/internal/cluster/register', register],
            [cluster.master, '/internal/cluster/heartbeat', heartbeat],
            [cluster.worker, '/internal/servers/release', { serverName: 'example', replicaId: rep.id }],
            [cluster.worker, '/internal/servers/allocate', { serverName: 'example', replicaId: 'example-intruder',
                                                             config: { command: '/bin/sh', args: ['-c', 'exit 0'] } }],
        ];
        for (const [d, path, body] of cases)
            for (const headers of [{}, { 'x-cluster-token': 'wrong' }, { 'x-cluster-token': '' },
                                   { 'x-cluster-token': `${TOKEN}x` }, ADMIN]) {
                const r = await http(d, 'POST', path, { body, headers });
                assert.equal(r.status, 401, `${d.name} ${path} ${JSON.stringify(headers)}: ${r.text}`);
                assert.deepEqual(r.json, { success: false, message: msg }, r.text);
            }
        rows.push(['wrong or missing X-Cluster-Token (internal API)', `401 "${msg}"`]);
        await unchanged('internal calls without the token');
    });

    tracked('register replayed with an online node\'s id from another address -> 409', async () => {
        const [node] = baseline.nodes;
        const msg = `node id w1 is already registered from ${node.host}:${node.port} and online; ` +
                    'pick another --node-id';
        const body = (host, port) => JSON.stringify({ nodeId: 'w1', role: 'worker', host, port, replicas: [] });
        const post = (b) => `POST /internal/cluster/register HTTP/1.1\r\n${HOST}X-Cluster-Token: ${TOKEN}\r\n` +
                            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n` +
                            `Connection: close\r\n\r\n${b}`;
        // from 127.0.0.2, claiming that address; then the node's own host, another port
        for (const [host, port] of [['127.0.0.2', node.port], [node.host, node.port + 1]]) {
            const r = await raw(cluster.master, post(body(host, port)), { localAddress: '127.0.0.2' });
            assert.equal(r.status, 409, r.head + r.body);
            assert.deepEqual(r.json, { success: false, message: msg });
        }
        await waitFor('the refusal logged', async () =>
            cluster.master.lines.some((l) => /event=register_refused node=w1 from=127\.0\.0\.2:/.test(l)), 2000);
        rows.push(['register replayed with an online node\'s id from another address', `409 "${msg}"`]);
        await unchanged('a replayed register');
    });

    tracked('heartbeat for an unknown node -> 404 known:false', async () => {
        const [rep] = baseline.workerReplicas;
        // a ghost claiming the real replica, and one claiming nothing
        for (const replicas of [[{ replicaId: rep.id, serverName: 'example', status: 'running', tools: 9 }], []]) {
            const r = await http(cluster.master, 'POST', '/internal/cluster/heartbeat', {
                body: { nodeId: 'ghost-node', timestamp: Date.now(), replicas }, headers: CT });
            assert.equal(r.status, 404, r.text);
            assert.deepEqual(r.json, { success: false, message: 'unknown node ghost-node; register again',
                                       data: { known: false } });
        }
        const n = await http(cluster.master, 'GET', '/api/cluster/nodes/ghost-node', { headers: ADMIN });
        assert.equal(n.status, 404, n.text);
        rows.push(['heartbeat for an unknown node',
                   '404 {"success":false,"message":"unknown node ghost-node; register again","data":{"known":false}}']);
        await unchanged('a heartbeat from nowhere');
    });

    tracked('release of a replica the worker does not run -> 404', async () => {
        const [rep] = baseline.workerReplicas;
        for (const [serverName, replicaId] of [['example', 'example-00000000'], ['other', rep.id]]) {
            const r = await http(cluster.worker, 'POST', '/internal/servers/release', {
                body: { serverName, replicaId }, headers: CT });
            assert.equal(r.status, 404, r.text);
            assert.deepEqual(r.json, { success: false,
                                       message: `replica ${replicaId} is not running on this node` });
        }
        assert.ok(alive(rep.pid), 'the real replica still runs');
        rows.push(['release of a replica the worker does not run',
                   '404 "replica ID is not running on this node"']);
        await unchanged('a release of nothing');
    });

    tracked('".." and "%2e%2e" in the path -> 400', async () => {
        const targets = ['/mcp/../api/cluster/status', '/mcp/%2e%2e/api/cluster/status', '/%2E%2E/%2e%2e/etc/passwd',
                         '/api/cluster/nodes/..', '/mcp/.%2e/x', '/api/servers/..%2f..%2fhealth',
                         '/internal/servers/../servers/release', '/..'];
        for (const d of [cluster.master, cluster.worker])
            for (const target of targets) {
                const r = await rawGet(d, target);
                assert.equal(r.status, 400, `${d.name} ${target}: ${r.head}`);
                assert.deepEqual(r.json, { error: 'dot-dot segment in the path' }, r.body);
            }
        rows.push(['`..` or `%2e%2e` in the path', '400 {"error":"dot-dot segment in the path"}']);
        await unchanged('dot-dot paths');
    });

    tracked('a header over 8 KiB -> 431', async () => {
        const seen = [];
        for (const d of [cluster.master, cluster.worker]) {
            const one = await rawGet(d, '/health', `X-Big: ${'a'.repeat(9000)}\r\n`);
            assert.equal(one.status, 431, one.head);
            assert.deepEqual(one.json, { error: 'request header fields exceed the 8192-byte limit' });
            const target = await rawGet(d, `/health?${'q'.repeat(9000)}`);
            assert.equal(target.status, 431, target.head);
            // past libmicrohttpd's per-connection memory it answers itself (HTML)
            for (const extra of [Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(60)}\r\n`).join(''),
                                 `X-Huge: ${'a'.repeat(MiB)}\r\n`]) {
                const r = await rawGet(d, '/health', extra);
                assert.equal(r.status, 431, r.head);
                seen.push(r.why);
            }
        }
        rows.push(['a header over 8 KiB', '431 {"error":"request header fields exceed the 8192-byte limit"}; ' +
                   'past 16 KiB libmicrohttpd\'s own 431 (HTML)']);
        await unchanged('huge headers');
    });

    tracked('10,000 sessions from one client: the bound, then 503; RSS bounded; nothing else breaks', async (t) => {
        // Everything a row above opened was deleted: the existing session is the one open.
        const agent = new nodeHttp.Agent({ keepAlive: true, maxSockets: 32 });
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
            protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'flood', version: '1' } } });
        const request = (method, headers, payload) => new Promise((resolve, reject) => {
            const r = nodeHttp.request({ agent, host: '127.0.0.1', port: cluster.master.port, path: '/mcp', method,
                                         headers: { 'content-type': 'application/json', ...MCP_HEADERS, ...headers },
                                         timeout: 10000 }, (res) => {
                let s = '';
                res.on('data', (b) => { s += b; });
                res.on('end', () => resolve({ status: res.statusCode, sid: res.headers['mcp-session-id'], text: s }));
            });
            r.on('timeout', () => r.destroy(new Error('timed out')));
            r.on('error', reject);
            r.end(payload);
        });
        // n requests, 32 at a time
        const pool = async (n, fn) => {
            const out = [];
            let next = 0;
            await Promise.all(Array.from({ length: 32 }, async () => {
                while (next < n) {
                    const i = next++;
                    out[i] = await fn(i);
                }
            }));
            return out;
        };
        const flood = async () => {
            const t1 = Date.now();
            const res = await pool(MAX_SESSIONS, () => request('POST', {}, body));
            return { ms: Date.now() - t1, ok: res.filter((r) => r.status === 200).map((r) => r.sid),
                     refused: res.filter((r) => r.status !== 200) };
        };
        const drop = (sids) => pool(sids.length, async (i) => {
            const r = await request('DELETE', { 'mcp-session-id': sids[i] });
            assert.equal(r.status, 200, r.text);
        });
        // The master lists every open session in sessions.json, written from
        // its tick at most once a second after sessions opened or closed
        // (several MB for 10,000): each figure is taken after that write.
        const settle = async () => { await sleep(1500); return rss(cluster.master); };
        try {
            const rss0 = await settle();
            const f1 = await flood();
            const rssFull = await settle();
            // 10,000 initialize calls, one session already open: 9,999 taken, the last refused
            assert.equal(new Set(f1.ok).size, MAX_SESSIONS - 1, `sessions taken: ${f1.ok.length}`);
            assert.equal(f1.refused.length, 1);
            for (const r of [...f1.refused, await request('POST', {}, body)]) {
                assert.equal(r.status, 503, r.text);
                assert.deepEqual(JSON.parse(r.text), { jsonrpc: '2.0', id: null,
                    error: { code: -32000, message: 'Too many sessions; try again later' } });
                assert.equal(r.sid, undefined);
            }
            // at the bound: everything else still works
            await unchanged('10,000 sessions open');
            const some = await request('POST', { 'mcp-session-id': f1.ok[1234], 'mcp-protocol-version': '2025-06-18' },
                                       JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call',
                                                        params: { name: 'example-echo', arguments: { text: 'n1234' } } }));
            assert.equal(some.status, 200, some.text);
            assert.equal(JSON.parse(some.text).result.content[0].text, 'n1234');
            await drop(f1.ok);
            const rssAfter1 = await settle();
            // a second round: the first one's memory is reused, none leaked
            const f2 = await flood();
            assert.equal(f2.ok.length, MAX_SESSIONS - 1);
            const rssFull2 = await settle();
            await drop(f2.ok);
            const rssAfter2 = await settle();
            const peak = hwm(cluster.master);
            t.diagnostic(`figure: 10,000 initialize calls in ${f1.ms} ms (again in ${f2.ms} ms): ` +
                         `${f1.ok.length} sessions, ${f1.refused.length} refused with 503; master RSS ` +
                         `${mib(rss0)} -> ${mib(rssFull)} full -> ${mib(rssAfter1)} after DELETE; ` +
                         `second round ${mib(rssFull2)} -> ${mib(rssAfter2)}; peak ${mib(peak)}`);
            if (!sanitized(cluster.master)) {
                assert.ok(peak - rss0 < 64 * MiB, `10,000 sessions cost up to ${mib(peak - rss0)}`);
                assert.ok(rssFull2 - rssFull < 8 * MiB && rssAfter2 - rssAfter1 < 8 * MiB,
                          `the second 10,000 sessions grew RSS again: ${mib(rssFull)} -> ${mib(rssFull2)} ` +
                          `full, ${mib(rssAfter1)} -> ${mib(rssAfter2)} after DELETE`);
            }
        } finally {
            agent.destroy();
        }
        // the bound is free again
        const again = await postBytes(cluster.master, '/mcp', Buffer.from(body));
        assert.equal(again.status, 200, again.text);
        assert.equal((await http(cluster.master, 'DELETE', '/mcp', {
            headers: { 'mcp-session-id': again.headers.get('mcp-session-id') } })).status, 200);
        rows.push(['10,000 sessions from one client',
                   `${MAX_SESSIONS} open (with the existing one), then 503 -32000 "Too many sessions; try again later"`]);
        await unchanged('10,000 sessions');
    });

    tracked('slowloris: closed within the idle timeout, others served meanwhile', async (t) => {
        // Every row above ran while these clients trickled; keep checking
        // until the daemons close them.
        const deadline = Math.max(...slow.map((s) => s.openedAt)) + IDLE_TIMEOUT_MS + 5000;
        const during = checks;
        let allClosed = false;
        Promise.all(slow.map((s) => s.closed)).then(() => { allClosed = true; });
        while (!allClosed && Date.now() < deadline) {
            const t1 = Date.now();
            await unchanged('a slowloris second');
            await sleep(Math.max(0, 1000 - (Date.now() - t1)));
        }
        for (const s of slow) {
            assert.ok(s.closedAt > 0, `${s.label}: still open ${Date.now() - s.openedAt} ms after it opened`);
            const lived = s.closedAt - s.openedAt;
            t.diagnostic(`figure: slowloris on ${s.label}: ${s.sent} bytes in ${lived} ms, ` +
                         `then closed by the server (${s.got ? JSON.stringify(s.got.split('\r\n')[0]) : 'no answer'})`);
            assert.ok(lived <= IDLE_TIMEOUT_MS + 2000, `${s.label} lived ${lived} ms`);
            assert.ok(s.sent >= 40, `${s.label} kept sending (${s.sent} bytes)`);
            assert.ok(!/^HTTP\/1\.1 2/.test(s.got), `${s.label} was not served: ${s.got}`);
        }
        t.diagnostic(`figure: slowloris: ${checksDuringSlowloris} rounds of checks (health of both ` +
                     `daemons, cluster state, a call on the existing session) passed while every slow ` +
                     `client was open (${checks - during} in this test); script ran ${Date.now() - t0} ms`);
        assert.ok(checksDuringSlowloris >= 10, 'other clients were served meanwhile');
        rows.push(['slowloris (a byte every 100-500 ms, head or body)',
                   `connection closed after ${Math.max(...slow.map((s) => s.closedAt - s.openedAt))} ms ` +
                   `at most (idle timeout ${IDLE_TIMEOUT_MS} ms), no answer; other clients served meanwhile`]);
        await unchanged('slowloris');
        for (const [row, got] of rows)
            t.diagnostic(`figure: hostile: ${row} -> ${got}`);
    });
});
