// Fault tests across network namespaces: a master and three workers, each in
// a namespace of its own, and this script -- the official MCP SDK client and
// the operator who breaks things -- in a fifth.  Run by
// tests/integration/faults.sh, which builds the namespaces, the bridge and
// the veths (10.231.0.0/24, addresses that exist only in those namespaces),
// runs this file with node's test runner inside the client namespace, and
// removes everything afterwards.  It is not a *.test.mjs: it cannot run
// outside that topology.
//
// Every worker reaches the master, and is reached by it, through our
// delaying TCP proxy (tests/helpers/delay_proxy) in the worker's own
// namespace: the worker listens on 127.0.0.1 only, the proxy on the
// worker's address; its heartbeats go to a proxy port on 127.0.0.1 that
// forwards to the master.  The delay is off except in scenario 5.
//
// Five scenarios, each from a converged cluster, each under load: 20 SDK
// sessions on the master's /mcp calling `example-echo` and `solo-echo` with
// unique tokens in a loop, every answer checked.  Figures are printed as
// test diagnostics ("figure: ..."); the summary table at the end is what
// tests/README.md ("Faults across hosts") quotes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { EXAMPLE, MASTERD, TMP, WORKERD, connect, disconnect, failures, http, sleep, startDaemon,
         stopDaemon, text, tracked, waitFor } from './lib/harness.mjs';

const env = (k) => {
    const v = process.env[k];
    if (!v)
        throw new Error(`${k} is not set: run tests/integration/faults.sh, not this file`);
    return v;
};

const NET = process.env.FAULTS_NET || '10.231.0';
const NS = { master: env('FAULTS_NS_MASTER'), w1: env('FAULTS_NS_W1'), w2: env('FAULTS_NS_W2'),
             w3: env('FAULTS_NS_W3'), router: env('FAULTS_NS_ROUTER') };
const ADDR = { master: `${NET}.10`, w1: `${NET}.11`, w2: `${NET}.12`, w3: `${NET}.13` };
const VETH = { w1: 'v-w1', w2: 'v-w2', w3: 'v-w3' }; // the router's end of each worker's link
const PROXY = env('MCPHUB_DELAY_PROXY');
const WORKERS = ['w1', 'w2', 'w3'];
const MASTER_PORT = 3300;
const WORKER_PORT = 3301;        // the proxy on the worker's address, and the worker on 127.0.0.1
const WORKER_TO_MASTER = 3300;   // in each worker namespace: 127.0.0.1:3300 -> the master
const TOKEN = 'faults-cluster-token-5d1b';
const ADMIN = { authorization: `Bearer ${TOKEN}` };
const HEARTBEAT_INTERVAL = 1000;
const HEARTBEAT_TIMEOUT = 4000;
const SESSIONS = 20;
const SETTINGS = join(TMP, 'faults.settings.json');
const STATE_DIR = join(TMP, 'faults-state');
const DELAY_MS = 200;            // per direction, per chunk
const LOSS_PERCENT = 30;
const CALL_TIMEOUT = 30000;      // per tool call (SDK option)
const PAUSE_BETWEEN_CALLS = 100; // per session
const MAX_CALLS_PER_SESSION = 3000;

// ---- processes in namespaces -------------------------------------------------------------

const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8', timeout: 10000 });
const inNs = (ns, ...cmd) => execFileSync('ip', ['netns', 'exec', ns, ...cmd],
                                          { encoding: 'utf8', timeout: 10000 });

// Live processes of a namespace running our example server (zombies excluded).
function exampleProcs(ns) {
    const out = [];
    for (const p of ip('netns', 'pids', ns).split(/\s+/).filter(Boolean)) {
        try {
            const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
            if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z')
                continue;
            const argv0 = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0];
            if (argv0 === EXAMPLE)
                out.push(Number(p));
        } catch { /* gone meanwhile */ }
    }
    return out;
}

// ---- the cluster -------------------------------------------------------------------------

const cluster = { master: null, workers: new Map(), proxies: new Map() };
const masterUrl = { base: `http://${ADDR.master}:${MASTER_PORT}` };

function writeSettings() {
    writeFileSync(SETTINGS, JSON.stringify({
        mcpServers: {
            example: { command: EXAMPLE, args: [], replicas: 2 },
            solo: { command: EXAMPLE, args: [], replicas: 1 },
        },
        cluster: { enabled: true, token: TOKEN,
                   master: { heartbeatInterval: HEARTBEAT_INTERVAL, heartbeatTimeout: HEARTBEAT_TIMEOUT } },
    }, null, 2));
}

async function startMaster() {
    const m = await startDaemon('faults-master', 'ip', [
        'netns', 'exec', NS.master, MASTERD, '-c', SETTINGS, '--host', ADDR.master,
        '--port', String(MASTER_PORT), '--state-dir', STATE_DIR, '--node-id', 'master',
    ], { startEvent: 'masterd_start' });
    m.base = masterUrl.base;
    cluster.master = m;
    return m;
}

async function startProxy(name) {
    const p = await startDaemon(`faults-proxy-${name}`, 'ip', [
        'netns', 'exec', NS[name], PROXY, '--delay', String(DELAY_MS),
        `${ADDR[name]}:${WORKER_PORT}=127.0.0.1:${WORKER_PORT}`,
        `127.0.0.1:${WORKER_TO_MASTER}=${ADDR.master}:${MASTER_PORT}`,
    ], { startEvent: 'delay_proxy_start' });
    cluster.proxies.set(name, p);
    return p;
}

async function startWorker(name) {
    const w = await startDaemon(`faults-${name}`, 'ip', [
        'netns', 'exec', NS[name], WORKERD, '-c', SETTINGS, '--host', '127.0.0.1',
        '--port', String(WORKER_PORT), '--node-id', name,
        '--master-url', `http://127.0.0.1:${WORKER_TO_MASTER}`,
        '--advertise-host', ADDR[name], '--advertise-port', String(WORKER_PORT),
    ], { startEvent: 'workerd_start' });
    w.base = `http://${ADDR[name]}:${WORKER_PORT}`;
    cluster.workers.set(name, w);
    return w;
}

const api = async (path) => {
    const r = await http(masterUrl, 'GET', path, { headers: ADMIN, timeoutMs: 5000 });
    assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
    return r.json.data;
};
const nodeStatus = async (name) => (await api('/api/cluster/nodes')).find((n) => n.id === name)?.status;

// Where the master says each replica runs: [{server, id, node, status}].
async function instances() {
    const out = [];
    for (const s of await api('/api/cluster/replicas'))
        for (const i of s.instances)
            out.push({ server: s.server, id: i.id, node: i.node, status: i.status });
    return out;
}

// The converged state, or why not: every worker online, every desired
// replica running on an online node, example's two on different nodes,
// each worker's own replicas exactly the master's instances on it, and
// exactly that many example-server processes in each worker namespace
// (a duplicate replica left running shows here).
async function convergence() {
    const nodes = await api('/api/cluster/nodes');
    for (const w of WORKERS)
        if (nodes.find((n) => n.id === w)?.status !== 'online')
            return `${w} is ${nodes.find((n) => n.id === w)?.status}`;
    const reps = await api('/api/cluster/replicas');
    for (const s of reps) {
        if (s.running !== s.replicas || s.instances.length !== s.replicas ||
            !s.instances.every((i) => i.status === 'running' && i.nodeStatus === 'online'))
            return `${s.server}: ${s.running}/${s.replicas} running, instances ` +
                   JSON.stringify(s.instances.map((i) => [i.id, i.node, i.status, i.nodeStatus]));
    }
    if (reps.length !== 2 || reps.find((s) => s.server === 'example')?.replicas !== 2 ||
        reps.find((s) => s.server === 'solo')?.replicas !== 1)
        return `desired state changed: ${JSON.stringify(reps.map((s) => [s.server, s.replicas]))}`;
    const ex = reps.find((s) => s.server === 'example').instances.map((i) => i.node);
    if (new Set(ex).size !== ex.length)
        return `example's replicas share a node: ${ex}`;
    const all = reps.flatMap((s) => s.instances.map((i) => ({ ...i, server: s.server })));
    for (const w of WORKERS) {
        const want = all.filter((i) => i.node === w).map((i) => i.id).sort();
        const r = await http(cluster.workers.get(w), 'GET', '/api/servers',
                             { headers: { 'x-cluster-token': TOKEN }, timeoutMs: 5000 });
        if (r.status !== 200)
            return `${w}: /api/servers ${r.status}`;
        const own = r.json.data.flatMap((s) => s.replicas.filter((x) => x.pid > 0).map((x) => x.id)).sort();
        if (JSON.stringify(own) !== JSON.stringify(want))
            return `${w} runs ${JSON.stringify(own)}, the master places ${JSON.stringify(want)} there`;
        const procs = exampleProcs(NS[w]);
        if (procs.length !== want.length)
            return `${w}: ${procs.length} example-server processes in its namespace, ` +
                   `${want.length} replicas placed there`;
    }
    return null;
}

async function converged(what, ms = 45000) {
    let why = 'not checked';
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        why = await convergence().catch((e) => `error: ${e.message}`);
        if (why === null)
            return;
        await sleep(200);
    }
    throw new Error(`${what}: not converged after ${ms} ms: ${why}`);
}

// ---- load ------------------------------------------------------------------------------------

const sessions = []; // {client, transport, id}

// Every session calls example-echo and solo-echo by turns, each with a
// unique token, until stop(); each call is recorded.
function startLoad(tag) {
    const calls = [];
    let stopped = false;
    const deadline = Date.now() + 180000; // a scenario never loads longer than this
    const loops = sessions.map(async (s, i) => {
        for (let n = 0; !stopped && n < MAX_CALLS_PER_SESSION && Date.now() < deadline; n++) {
            const server = n % 2 ? 'solo' : 'example';
            const token = `${tag}-s${i}-c${n}-${Math.random().toString(36).slice(2, 10)}`;
            const rec = { session: i, server, start: Date.now() };
            try {
                const r = await s.client.callTool({ name: `${server}-echo`, arguments: { text: token } },
                                                  undefined, { timeout: CALL_TIMEOUT });
                rec.ok = !r.isError && text(r) === token;
                if (!rec.ok)
                    rec.error = `wrong answer ${JSON.stringify(r).slice(0, 200)}`;
            } catch (e) {
                rec.ok = false;
                rec.error = `${e.code ?? ''} ${e.message}`.trim();
            }
            rec.end = Date.now();
            calls.push(rec);
            await sleep(PAUSE_BETWEEN_CALLS);
        }
    });
    return {
        calls,
        async stop() {
            stopped = true;
            await Promise.all(loops);
            return calls;
        },
    };
}


const pct = (xs, p) => {
    if (!xs.length)
        return 0;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))];
};

const NO_REPLICA = /no healthy replica is available for server/;
const SESSION_GONE = /Session not found/;

const summary = [];
// Known gaps (tests/README.md): what each scenario saw of them, asserted
// by the tests at the end, marked TODO only while they show exactly so.
const gaps = { single: [], stuck: [] };

// The checks of one scenario, once the cluster converged again.
//   calls      every call of the load, {session, server, start, end, ok, error}
//   t0         the fault;  tDetect: the master noticed it (null: it never did)
//   tHeal      the fault lifted (link up, SIGCONT, ...);  tRecover: converged again
//   single     the server whose only replica was on the faulty node, if any
//   window     check that every session is served between detection and tHeal
// Returns the failures no known gap explains (the scenario asserts them empty).
//   down       the master itself was down from t0 to tDetect
async function judge(t, name, { calls, t0, tDetect, tHeal, tRecover, ids, single = null, window = false,
                                down = false }) {
    const detected = tDetect ?? t0;  // never detected: every call after the fault must succeed
    const failed = calls.filter((c) => !c.ok);
    const atFault = failed.filter((c) => c.start < t0);                         // in flight at the fault
    const beforeDetect = failed.filter((c) => c.start >= t0 && c.start < detected);
    // Sent while nothing could take them: the only replica gone, or no master listening.
    const noReplica = beforeDetect.filter((c) => down || c.server === single);
    const inFlight = [...atFault, ...beforeDetect.filter((c) => !noReplica.includes(c))];
    const afterDetect = calls.filter((c) => c.start >= detected);
    const late = afterDetect.filter((c) => !c.ok);
    const gapSingle = late.filter((c) => c.server === single && NO_REPLICA.test(c.error) && c.start < tRecover);
    const problems = [];

    // Bound: each session has one call in flight at a time, so at most
    // SESSIONS calls can be caught by the fault (at it, or sent before the
    // master noticed it) -- except calls for a server whose every replica
    // was on the faulty node: until detection nothing can serve them, and
    // each fails at once ("no healthy replica"); counted apart.
    if (inFlight.length > SESSIONS)
        problems.push(`${inFlight.length} calls failed in flight, bound ${SESSIONS}`);
    for (const c of [...failed])
        if (SESSION_GONE.test(c.error))
            problems.push(`a call failed for a lost session: ${c.error}`);
    for (const c of noReplica)
        if (down ? !/fetch failed/.test(c.error)
                 : !NO_REPLICA.test(c.error) && !/became unavailable during this request/.test(c.error))
            problems.push(`a ${c.server} call sent before detection failed for another reason: ${c.error}`);
    for (const c of late)
        if (!gapSingle.includes(c))
            problems.push(`session ${c.session} ${c.server} call started ${c.start - t0} ms after the ` +
                          `fault (detection ${detected - t0} ms) failed: ${c.error}`);
    if (gapSingle.length)
        gaps.single.push(`${name}: ${gapSingle.length} ${single} calls started after detection (and before ` +
                         `its replacement ran) answered "no healthy replica"`);

    // Served during the fault, after detection: each session completes a
    // call started after detection and ended before the fault is lifted.
    let stuck = 0;
    if (window && tDetect !== null) {
        for (let i = 0; i < sessions.length; i++) {
            const mine = calls.filter((c) => c.session === i);
            if (mine.some((c) => c.ok && c.start >= tDetect && c.end <= tHeal))
                continue;
            const across = mine.find((c) => c.start < tDetect && c.end >= tHeal - 200);
            if (across) {
                stuck++;
                gaps.stuck.push(`${name}: session ${i}: its ${across.server} call sent ${across.start - t0} ms ` +
                                `after the fault stayed pending until ${across.end - t0} ms (node offline at ` +
                                `${tDetect - t0} ms, fault lifted at ${tHeal - t0} ms), then ` +
                                `${across.ok ? 'succeeded' : `failed: ${across.error}`}`);
            } else {
                problems.push(`session ${i} completed no call between detection and the end of the fault`);
            }
        }
    }

    const lat = calls.filter((c) => c.ok).map((c) => c.end - c.start);
    const during = calls.filter((c) => c.ok && c.start >= t0 && c.start < tRecover).map((c) => c.end - c.start);
    const row = {
        scenario: name, detectMs: tDetect === null ? null : tDetect - t0, recoverMs: tRecover - t0,
        calls: calls.length, inFlight: inFlight.length, noReplica: noReplica.length,
        late: late.length, afterDetection: afterDetect.length, gapSingle: gapSingle.length, stuck,
        p50: pct(lat, 50), p99: pct(lat, 99), maxDuring: during.length ? Math.max(...during) : 0,
    };
    summary.push(row);
    t.diagnostic(`figure: ${name}: detection ${row.detectMs === null ? 'none' : `${row.detectMs} ms`}, ` +
                 `recovery ${row.recoverMs} ms (from the fault); ${calls.length} calls; failed in flight ` +
                 `${inFlight.length} (bound ${SESSIONS}, one per session)` +
                 (single ? `, ${single} calls failed before detection with no replica left ${noReplica.length}` : '') +
                 (down ? `, calls refused while no master listened ${noReplica.length}` : '') +
                 `; started after detection ${afterDetect.length}, failed ${late.length}` +
                 (gapSingle.length ? ` (${gapSingle.length} "no healthy replica" for ${single}: known gap)` : '') +
                 (window ? `; sessions stuck past detection ${stuck}` : '') +
                 `; latency p50 ${row.p50} ms, p99 ${row.p99} ms, slowest call during the fault ${row.maxDuring} ms`);
    const byError = {};
    for (const f of failed) {
        const k = `${f.server}: ${f.error.slice(0, 200)}`;
        byError[k] = (byError[k] ?? 0) + 1;
    }
    for (const [k, n] of Object.entries(byError))
        t.diagnostic(`figure: ${name}: ${n} x ${k}`);

    // No session lost: the same Client objects, the same session ids, and
    // each answers both servers now.
    const lost = [];
    for (let i = 0; i < sessions.length; i++) {
        const s = sessions[i];
        let why = null;
        if (s.transport.sessionId !== ids[i])
            why = `session id ${ids[i]} -> ${s.transport.sessionId}`;
        for (const server of ['example', 'solo']) {
            if (why)
                break;
            const token = `${name}-check-${i}-${server}`;
            try {
                const r = await s.client.callTool({ name: `${server}-echo`, arguments: { text: token } },
                                                  undefined, { timeout: CALL_TIMEOUT });
                if (text(r) !== token)
                    why = `wrong answer from ${server}: ${JSON.stringify(r).slice(0, 200)}`;
            } catch (e) {
                why = `${server}: ${e.code ?? ''} ${e.message}`;
            }
        }
        if (why)
            lost.push(`session ${i}: ${why}`);
    }
    row.lost = lost.length;
    t.diagnostic(`figure: ${name}: sessions lost ${lost.length} of ${sessions.length}` +
                 (lost.length ? ` (${lost[0]})` : ''));
    return { problems, lost, late, inFlight };
}

const placement = async () => {
    const inst = await instances();
    return Object.fromEntries(WORKERS.map((w) => [w, inst.filter((i) => i.node === w).map((i) => i.server)]));
};

// The worker that hosts `server` (the first one found).
const hostOf = async (server) => (await instances()).find((i) => i.server === server).node;

// A server every replica of which runs on node, if any.
const onlyOn = async (node) => {
    const inst = await instances();
    return ['example', 'solo'].find((s) => inst.filter((i) => i.server === s).every((i) => i.node === node)) ?? null;
};

// Every desired replica running, none on node.
const movedOff = (node) => async () => (await api('/api/cluster/replicas')).every((s) =>
    s.running === s.replicas && s.instances.every((i) => i.status === 'running' && i.node !== node));

const offline = (node) => waitFor(`${node} offline`, async () => (await nodeStatus(node)) === 'offline',
                                  HEARTBEAT_TIMEOUT + 10000, 100);

function assertScenario(j) {
    assert.deepEqual(j.lost, [], 'no client session lost');
    assert.deepEqual(j.problems, [], 'calls after detection succeed, calls failed in flight within the bound');
}

// ---- the tests -------------------------------------------------------------------------------

describe('faults across network namespaces: master + 3 workers + SDK client', { timeout: 400000 }, () => {
    before(async () => {
        failures.count++;
        for (const f of [MASTERD, WORKERD, EXAMPLE, PROXY])
            assert.ok(existsSync(f), `${f} missing`);
        rmSync(STATE_DIR, { recursive: true, force: true });
        mkdirSync(STATE_DIR, { recursive: true });
        writeSettings();
        const t0 = Date.now();
        await startMaster();
        await Promise.all(WORKERS.map(startProxy));
        await Promise.all(WORKERS.map(startWorker));
        await converged('the cluster forming');
        console.log(`# figure: cluster formed in ${Date.now() - t0} ms: ${JSON.stringify(await placement())}`);
        // The 20 sessions, kept through every scenario.
        await waitFor('the tools of both servers listed', async () => {
            const c = await connect(masterUrl, '/mcp');
            const names = (await c.client.listTools()).tools.map((x) => x.name);
            await disconnect(c);
            return names.includes('example-echo') && names.includes('solo-echo');
        }, 15000, 200);
        for (let i = 0; i < SESSIONS; i++) {
            const c = await connect(masterUrl, '/mcp');
            c.id = c.transport.sessionId;
            sessions.push(c);
        }
        failures.count--;
    });

    after(async () => {
        await Promise.all(sessions.map(disconnect));
        for (const w of cluster.workers.values())
            await stopDaemon(w);
        if (cluster.master)
            await stopDaemon(cluster.master);
        for (const p of cluster.proxies.values())
            await stopDaemon(p);
        console.log('# figure: summary | scenario | detection ms | recovery ms | calls | failed in flight ' +
                    '(bound 20) | failed fast, no replica left | failed after detection (of) | stuck past ' +
                    'detection | sessions lost | p50 / p99 / slowest ms |');
        for (const r of summary)
            console.log(`# figure: | ${r.scenario} | ${r.detectMs ?? 'none'} | ${r.recoverMs} | ${r.calls} | ` +
                        `${r.inFlight} | ${r.noReplica} | ${r.late} (${r.afterDetection}) | ${r.stuck} | ` +
                        `${r.lost ?? '?'} | ${r.p50} / ${r.p99} / ${r.maxDuring} |`);
    });

    // 1. kill -9 of a worker under load; it is started again afterwards.
    tracked('1. kill -9 of a worker under load', async (t) => {
        await converged('before scenario 1');
        const victim = await hostOf('solo');
        const single = await onlyOn(victim);
        const ids = sessions.map((s) => s.id);
        const load = startLoad('kill');
        await sleep(1500);
        const t0 = Date.now();
        process.kill(cluster.workers.get(victim).pid, 'SIGKILL');
        await offline(victim);
        const tDetect = Date.now();
        await waitFor('every desired replica running on the survivors', movedOff(victim), 30000, 100);
        const tMoved = Date.now();
        await startWorker(victim);
        const tHeal = Date.now();
        await converged('after scenario 1');
        const tRecover = Date.now();
        await sleep(1000);
        const calls = await load.stop();
        t.diagnostic(`figure: 1. kill -9 of ${victim} (hosting ${single ?? 'no single-replica server'} alone): ` +
                     `replicas running on the survivors ${tMoved - t0} ms after the kill; ${victim} ` +
                     `started again, converged ${tRecover - t0} ms after the kill`);
        assertScenario(await judge(t, '1. kill -9', { calls, t0, tDetect, tHeal, tRecover, ids, single }));
    });

    // 2. SIGSTOP a worker for longer than heartbeatTimeout, then SIGCONT.
    tracked('2. SIGSTOP of a worker past heartbeatTimeout, then SIGCONT', async (t) => {
        await converged('before scenario 2');
        const victim = await hostOf('example');
        const single = await onlyOn(victim);
        const ids = sessions.map((s) => s.id);
        const load = startLoad('stop');
        await sleep(1500);
        const t0 = Date.now();
        const pid = cluster.workers.get(victim).pid;
        let tDetect = null;
        process.kill(pid, 'SIGSTOP');
        try {
            await offline(victim);
            tDetect = Date.now();
            // Held while the master moves its replicas, and 2 s more.
            await waitFor('every desired replica running elsewhere', movedOff(victim), 30000, 100);
            await sleep(2000);
        } finally {
            process.kill(pid, 'SIGCONT');
        }
        const tHeal = Date.now();
        await converged('after scenario 2');
        const tRecover = Date.now();
        await sleep(1000);
        const calls = await load.stop();
        t.diagnostic(`figure: 2. SIGSTOP of ${victim} for ${tHeal - t0} ms; converged ` +
                     `${tRecover - tHeal} ms after SIGCONT, placement ${JSON.stringify(await placement())}`);
        assertScenario(await judge(t, '2. SIGSTOP', { calls, t0, tDetect, tHeal, tRecover, ids, single,
                                                      window: true }));
    });

    // 3. The link of a worker down for 20 s, then up again.
    tracked('3. a worker\'s link cut for 20 s, then restored', async (t) => {
        await converged('before scenario 3');
        const victim = await hostOf('solo');
        const single = await onlyOn(victim);
        const ids = sessions.map((s) => s.id);
        const load = startLoad('cut');
        await sleep(1500);
        const t0 = Date.now();
        let tDetect = null, dupes = [];
        ip('-n', NS.router, 'link', 'set', VETH[victim], 'down');
        try {
            await offline(victim);
            tDetect = Date.now();
            // Cut off, the worker cannot be told to stop its replicas: the
            // master runs replacements on the other side meanwhile.
            await waitFor('every desired replica running on the other side', movedOff(victim), 30000, 100);
            await sleep(Math.max(0, t0 + 20000 - Date.now()));
            dupes = exampleProcs(NS[victim]);
        } finally {
            ip('-n', NS.router, 'link', 'set', VETH[victim], 'up');
        }
        const tHeal = Date.now();
        await converged('after scenario 3');
        const tRecover = Date.now();
        await sleep(1000);
        const calls = await load.stop();
        t.diagnostic(`figure: 3. link of ${victim} down for ${tHeal - t0} ms; replica processes still ` +
                     `running on the cut-off side at the end: ${dupes.length}; converged (no duplicate: ` +
                     `processes per namespace = the master's instances) ${tRecover - tHeal} ms after the ` +
                     `link came back, placement ${JSON.stringify(await placement())}`);
        const j = await judge(t, '3. link cut 20 s', { calls, t0, tDetect, tHeal, tRecover, ids, single,
                                                       window: true });
        // No duplicate comes back later either.
        await sleep(3000);
        assert.equal(await convergence(), null, 'still converged 3 s later');
        assertScenario(j);
    });

    // 5 (run before 4, which loses the sessions while that gap is open).
    // One worker's traffic: 30 % of its incoming packets dropped (nftables
    // in its namespace) and 200 ms added to every chunk, each way, between
    // it and the master (its proxy), for 30 s.
    tracked('5. 30 % loss and 200 ms delay on a worker for 30 s', async (t) => {
        let nft = true;
        try { inNs(NS.w1, 'nft', '--version'); } catch { nft = false; }
        assert.ok(nft, 'nft (Debian package nftables) is needed for the loss scenario');
        await converged('before scenario 5', 60000);
        // A worker with an example replica and no solo one (there is one:
        // example's two run on different workers, solo's one on one).
        const inst = await instances();
        const victim = inst.find((i) => i.server === 'example' &&
                                 !inst.some((x) => x.server === 'solo' && x.node === i.node)).node;
        const single = await onlyOn(victim);
        const ids = sessions.map((s) => s.id);
        const load = startLoad('lossy');
        await sleep(1500);
        const proxy = cluster.proxies.get(victim);
        const t0 = Date.now();
        let tDetect = null;
        const statuses = {};
        execFileSync('ip', ['netns', 'exec', NS[victim], 'nft', '-f', '-'], {
            input: `table inet faults {\n  chain input {\n    type filter hook input priority 0; policy accept;\n` +
                   `    iifname "eth0" numgen random mod 100 < ${LOSS_PERCENT} counter drop\n  }\n}\n`,
            timeout: 10000 });
        proxy.child.kill('SIGUSR1');
        let counters = '';
        try {
            while (Date.now() < t0 + 30000) {
                const s = await nodeStatus(victim).catch(() => 'unknown');
                statuses[s] = (statuses[s] ?? 0) + 1;
                if (s === 'offline' && tDetect === null)
                    tDetect = Date.now();
                await sleep(250);
            }
        } finally {
            proxy.child.kill('SIGUSR2');
            try {
                counters = (/counter packets (\d+)/.exec(inNs(NS[victim], 'nft', 'list', 'table', 'inet', 'faults'))
                            ?? [])[1] ?? '?';
                inNs(NS[victim], 'nft', 'delete', 'table', 'inet', 'faults');
            } catch (e) {
                t.diagnostic(`nft: ${e.message}`);
            }
        }
        const tHeal = Date.now();
        await converged('after scenario 5');
        const tRecover = Date.now();
        await sleep(1000);
        const calls = await load.stop();
        const viaVictim = proxy.lines.filter((l) => l.includes('delay_proxy_delay')).length;
        t.diagnostic(`figure: 5. ${LOSS_PERCENT} % loss + ${DELAY_MS} ms per chunk each way on ${victim} for ` +
                     `${tHeal - t0} ms: ${counters} packets dropped; node status polled every 250 ms: ` +
                     `${JSON.stringify(statuses)}` +
                     (tDetect !== null ? `, offline ${tDetect - t0} ms after the fault` : ', never offline') +
                     `; converged ${tRecover - tHeal} ms after the fault ended (proxy delay switched ` +
                     `${viaVictim - 1} times)`);
        assertScenario(await judge(t, '5. loss + delay 30 s', { calls, t0, tDetect, tHeal, tRecover, ids, single,
                                                                window: tDetect !== null }));
    });

    // 4. The master restarted under load (SIGTERM, started again with the
    // same --state-dir).  "Detection" is the new master listening.
    const restart = {};
    tracked('4. master restart under load: desired state and replicas kept, cluster converges', async (t) => {
        await converged('before scenario 4');
        const ids = sessions.map((s) => s.id);
        const before = (await instances()).map((i) => i.id).sort();
        const load = startLoad('restart');
        await sleep(1500);
        const t0 = Date.now();
        const stopped = await stopDaemon(cluster.master);
        assert.deepEqual(stopped, { code: 0, signal: null }, 'the master exits 0 on SIGTERM');
        const tDown = Date.now();
        await startMaster();
        const tDetect = Date.now();
        await converged('after scenario 4');
        const tRecover = Date.now();
        await sleep(1000);
        const calls = await load.stop();
        const kept = (await instances()).map((i) => i.id).filter((i) => before.includes(i)).length;
        t.diagnostic(`figure: 4. master stopped in ${tDown - t0} ms, listening again ${tDetect - t0} ms ` +
                     `after SIGTERM, converged after ${tRecover - t0} ms; replicas kept ${kept} of ` +
                     `${before.length}`);
        const j = await judge(t, '4. master restart', { calls, t0, tDetect, tHeal: tDetect, tRecover, ids,
                                                        down: true });
        restart.j = j;
        assert.equal(kept, before.length, 'every replica kept through the master restart');
        // Calls in flight at SIGTERM: bounded (those sent while no master
        // listened were refused: counted apart).
        assert.ok(j.inFlight.length <= SESSIONS, `failed in flight ${j.inFlight.length}, bound ${SESSIONS}`);
        // Sessions, and calls, are the next test's.
    });

    // The master keeps its client sessions in the state directory
    // (sessions.json): the same SDK Client objects go on with the same
    // Mcp-Session-Id, and no call after the restart answers 404.
    test('4. master restart: no client session lost, calls after the restart succeed', () => {
        assert.ok(restart.j, 'scenario 4 ran');
        assertScenario(restart.j);
    });

    // ---- known gaps, each asserted; TODO only while it shows exactly so ----

    test('a server whose only replica was lost: calls after detection wait for the replacement', (t) => {
        assert.ok(summary.length >= 4, 'the scenarios ran');
        if (gaps.single.length)
            t.todo(`known gap: calls answer "no healthy replica" until the replacement runs: ${gaps.single.join('; ')}`);
        assert.deepEqual(gaps.single, []);
    });

    test('calls in flight on a worker declared offline end at detection, not when it comes back', (t) => {
        assert.ok(summary.length >= 4, 'the scenarios ran');
        if (gaps.stuck.length)
            t.todo(`known gap: ${gaps.stuck.length} session(s) kept waiting on a worker the master had ` +
                   `declared offline: ${gaps.stuck.slice(0, 3).join('; ')}`);
        assert.deepEqual(gaps.stuck, []);
    });
});
