// Shared helpers of the integration tests (tests/interop/*.test.mjs): paths,
// process tracking for the driver (tests/integration/run), starting and
// stopping our daemons, /proc walks, polling, HTTP and the official MCP SDK
// client.  No mocks: everything here drives real processes on loopback.
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdtempSync, readdirSync, readFileSync,
         writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export const HERE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(HERE, '../..');
export const BUILD = resolve(ROOT, process.env.MCPHUB_BUILD || 'build');
export const WORKERD = join(BUILD, 'mcphub-workerd');
export const MASTERD = join(BUILD, 'mcphub-masterd');
export const EXAMPLE = join(BUILD, 'examples/servers/mcp-example-server');
export const EVERYTHING = join(HERE, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
// Logs and settings go to the driver's directory, or to our own (removed
// by the script after a run without failures).
export const OWN_TMP = !process.env.MCPHUB_IT_TMP;
export const TMP = process.env.MCPHUB_IT_TMP || mkdtempSync(join(tmpdir(), 'mcphub-it-'));
const PIDFILE = process.env.MCPHUB_IT_PIDFILE; // the driver kills what is listed here
export const SAMPLE_REPLY = 'fixed sampling reply from the integration test';

export const EXAMPLE_TOOLS = ['add', 'echo', 'exit', 'fail', 'log', 'sample', 'slow', 'toggle_extra',
                              'whoami'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// node:test with a count of failures, so that a script keeps its logs when
// one failed (failures.count; a before() hook may bump it while it runs).
export const failures = { count: 0 };
export function tracked(name, opts, fn) {
    if (typeof opts === 'function')
        [opts, fn] = [{}, opts];
    return test(name, opts, async (t) => {
        try {
            await fn(t);
        } catch (e) {
            failures.count++;
            throw e;
        }
    });
}

// Recorded as "pid starttime" (field 22 of /proc/pid/stat), so that the
// driver never kills a reused pid.
export function remember(pid) {
    if (!PIDFILE || !pid)
        return;
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
        appendFileSync(PIDFILE, `${pid} ${start}\n`);
    } catch { /* already gone */ }
}

// ---- processes ------------------------------------------------------------------------

// State letter of a process (R, S, Z, ...), or null if there is none.
export function procState(pid) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
        return null;
    }
}

export const alive = (pid) => { const s = procState(pid); return s !== null && s !== 'Z'; };

// Every live descendant of pid, from /proc (children first found by ppid).
export function descendants(pid) {
    const parent = new Map();
    for (const d of readdirSync('/proc')) {
        if (!/^\d+$/.test(d))
            continue;
        try {
            const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
            parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
        } catch { /* gone meanwhile */ }
    }
    const out = [];
    const walk = (p) => {
        for (const [c, pp] of parent)
            if (pp === p && alive(c)) {
                out.push(c);
                walk(c);
            }
    };
    walk(pid);
    return out;
}

// The environment of a process, as an object ({} when it cannot be read).
export function procEnv(pid) {
    try {
        return Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
            .filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    } catch {
        return {};
    }
}

// Whatever happens to this process, no daemon outlives it (each stops its
// own servers on SIGTERM).
const daemons = new Set();
process.on('exit', () => {
    for (const c of daemons)
        if (c.exitCode === null && c.signalCode === null)
            c.kill('SIGTERM');
});

// Start one of our daemons and resolve once it logged `event=<startEvent>
// ... port=N`.  name names its log (TMP/<name>.log, appended to across
// restarts).  Returns {name, child, pid, logPath, lines, port, base, exited}.
export async function startDaemon(name, bin, args, { startEvent, env = {}, timeoutMs = 10000 } = {}) {
    const logPath = join(TMP, `${name}.log`);
    const logFile = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'],
                                     env: { ...process.env, MCPHUB_LOG_LEVEL: 'info', ...env } });
    remember(child.pid);
    daemons.add(child);
    const d = { name, child, pid: child.pid, logPath, lines: [], port: 0, base: '' };
    d.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
    let partial = '';
    const onData = (buf) => {
        logFile.write(buf);
        partial += buf.toString();
        const lines = partial.split('\n');
        partial = lines.pop();
        d.lines.push(...lines);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', () => logFile.end());
    const re = new RegExp(`event=${startEvent} .*port=(\\d+)`);
    const deadline = Date.now() + timeoutMs;
    while (!d.port) {
        const m = d.lines.map((l) => re.exec(l)).find(Boolean);
        if (m)
            d.port = Number(m[1]);
        else if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline)
            throw new Error(`${name} did not start:\n${d.lines.slice(-20).join('\n')}`);
        else
            await sleep(20);
    }
    d.base = `http://127.0.0.1:${d.port}`;
    return d;
}

// A worker; settings are written to TMP/<name>.settings.json when given as
// an object of servers (standalone), else `settingsPath` is used as is.
export async function startWorker(name, servers, extraArgs = [], { settingsPath } = {}) {
    let settings = settingsPath;
    if (!settings) {
        settings = join(TMP, `${name}.settings.json`);
        writeFileSync(settings, JSON.stringify({ mcpServers: servers }, null, 2));
    }
    return startDaemon(name, WORKERD, ['-c', settings, '--host', '127.0.0.1', '--port', '0',
                                       '--node-id', name, ...extraArgs],
                       { startEvent: 'workerd_start' });
}

// SIGTERM, then wait (SIGKILL after 15 s: a hung daemon is a failure, not a hang).
export async function stopDaemon(d, signal = 'SIGTERM') {
    if (d.child.exitCode !== null || d.child.signalCode !== null)
        return d.exited;
    d.child.kill(signal);
    const timer = setTimeout(() => d.child.kill('SIGKILL'), 15000);
    const res = await d.exited;
    clearTimeout(timer);
    return res;
}
export const stopWorker = stopDaemon;

// Poll fn every `every` ms until it returns something truthy; its value.
export async function waitFor(what, fn, ms = 15000, every = 50) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        const v = await fn().catch((e) => { last = e; return undefined; });
        if (v)
            return v;
        if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
        await sleep(every);
    }
}

// ---- HTTP and MCP helpers --------------------------------------------------------------------

// d is anything with a .base URL.  Bodies that are not strings go as JSON.
export async function http(d, method, path, { body, headers = {}, timeoutMs = 10000 } = {}) {
    const res = await fetch(d.base + path, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
}

export const MCP_HEADERS = { accept: 'application/json, text/event-stream' };

// An SDK client on d.base + path.  sampling: true answers with
// SAMPLE_REPLY, a string answers with that string, a function with what it
// returns for the request; after sampleDelay ms.  headers go on every
// request (also the SSE stream).
export async function connect(d, path, { sampling = false, sampleDelay = 0, sse = false, headers } = {}) {
    const client = new Client({ name: 'mcphub-it', version: '1.0.0' },
                              { capabilities: sampling ? { sampling: {} } : {} });
    if (sampling)
        client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
            const reply = typeof sampling === 'function' ? sampling(request)
                        : sampling === true ? SAMPLE_REPLY : sampling;
            await sleep(sampleDelay);
            return { model: 'it-model', role: 'assistant', stopReason: 'endTurn',
                     content: { type: 'text', text: reply } };
        });
    const url = new URL(path, d.base);
    const opts = headers ? { requestInit: { headers } } : undefined;
    const transport = sse ? new SSEClientTransport(url, opts) : new StreamableHTTPClientTransport(url, opts);
    await client.connect(transport);
    return { client, transport };
}

export async function disconnect(c) {
    if (c.transport instanceof StreamableHTTPClientTransport)
        await c.transport.terminateSession().catch(() => {});
    await c.client.close().catch(() => {});
}

export const text = (res) => res.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
