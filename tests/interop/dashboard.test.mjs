// The dashboard that mcphub-masterd serves on /, in real headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core): a master and two
// workers in cluster mode on loopback, the key asked for and given, both
// workers online, a server's replicas changed with + / Apply and seen in the
// API and on the page, a worker killed (-9) and seen offline, the master
// stopped and restarted (unreachable, then back), a narrow window, and a
// standalone master.  No mocks: the page talks to the real daemons.
//
// Run by tests/integration/run (make check), or alone from the repository root:
//   MCPHUB_BUILD=build node --test tests/interop/dashboard.test.mjs
//
// Screenshots go to tests/output/dashboard/ (gitignored).  Without Chromium
// (and no way to install it: apt-get as root) the tests are skipped, and say so.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
         rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BUILD = resolve(ROOT, process.env.MCPHUB_BUILD || 'build');
const MASTERD = join(BUILD, 'mcphub-masterd');
const WORKERD = join(BUILD, 'mcphub-workerd');
const EXAMPLE = join(BUILD, 'examples/servers/mcp-example-server');
const CHROMIUM = process.env.MCPHUB_CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(ROOT, 'tests/output/dashboard');
const OWN_TMP = !process.env.MCPHUB_IT_TMP;
const TMP = process.env.MCPHUB_IT_TMP || mkdtempSync(join(tmpdir(), 'mcphub-it-'));
const PIDFILE = process.env.MCPHUB_IT_PIDFILE; // the driver kills what is listed here
const TOKEN = 'it-dashboard-token-7c1e';
const KEY_NAME = 'mcphub.dashboard.bearer';  // the page's sessionStorage item
const HEARTBEAT = { heartbeatInterval: 500, heartbeatTimeout: 2000 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- Chromium and playwright-core: present, or installed, or a clear skip ------------------

function findChromium() {
    if (existsSync(CHROMIUM))
        return null;
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
    if (!root || !apt || process.env.MCPHUB_CHROMIUM)
        return `${CHROMIUM} not found (apt-get install chromium)`;
    console.error('dashboard: installing Debian\'s chromium (bounded to 90 s)');
    // timeout signals the whole group: apt-get and dpkg do not outlive the bound.
    spawnSync('timeout', ['-k', '5', '90', 'sh', '-c',
                          'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'],
              { stdio: ['ignore', 'ignore', 'inherit'] });
    return existsSync(CHROMIUM) ? null : `${CHROMIUM} not found and apt-get install chromium failed`;
}

let chromium = null;
let skipReason = findChromium();
if (!skipReason) {
    try {
        ({ chromium } = await import('playwright-core'));
    } catch (e) {
        skipReason = `playwright-core is missing (npm ci in tests/interop): ${e.message}`;
    }
}
if (skipReason) {
    console.error(`dashboard: SKIPPED: ${skipReason}`);
    if (OWN_TMP)
        rmSync(TMP, { recursive: true, force: true });
}

// ---- processes (as worker-standalone.test.mjs) -----------------------------------------------

// Recorded as "pid starttime" (field 22 of /proc/pid/stat), so that the
// driver never kills a reused pid.
function remember(pid) {
    if (!PIDFILE || !pid)
        return;
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
        appendFileSync(PIDFILE, `${pid} ${start}\n`);
    } catch { /* already gone */ }
}

function procState(pid) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
        return null;
    }
}

const alive = (pid) => { const s = procState(pid); return s !== null && s !== 'Z'; };

function descendants(pid) {
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

// Whatever happens to this process, no daemon outlives it.
const daemons = new Set();
process.on('exit', () => {
    for (const d of daemons)
        if (d.child.exitCode === null && d.child.signalCode === null)
            d.child.kill('SIGKILL');
});

// Start a daemon; resolves once it logs the port it listens on.
async function startDaemon(name, bin, args, event) {
    const logPath = join(TMP, `${name}.log`);
    const logFile = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'],
                                     env: { ...process.env, MCPHUB_LOG_LEVEL: 'info' } });
    remember(child.pid);
    const d = { name, child, pid: child.pid, lines: [], port: 0, base: '' };
    daemons.add(d);
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
    const re = new RegExp(`event=${event} .*port=(\\d+)`);
    const deadline = Date.now() + 10000;
    while (!d.port) {
        const m = d.lines.map((l) => re.exec(l)).find(Boolean);
        if (m)
            d.port = Number(m[1]);
        else if (child.exitCode !== null || Date.now() > deadline)
            throw new Error(`${name} did not start:\n${d.lines.slice(-20).join('\n')}`);
        else
            await sleep(20);
    }
    d.base = `http://127.0.0.1:${d.port}`;
    return d;
}

// SIGTERM (or the signal given), then wait; SIGKILL after 10 s.
async function stopDaemon(d, signal = 'SIGTERM') {
    if (d.child.exitCode !== null || d.child.signalCode !== null)
        return d.exited;
    for (const p of descendants(d.pid))
        remember(p);
    d.child.kill(signal);
    const timer = setTimeout(() => d.child.kill('SIGKILL'), 10000);
    const res = await d.exited;
    clearTimeout(timer);
    return res;
}

async function waitFor(what, fn, ms = 15000) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        try {
            const v = await fn();
            if (v)
                return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
        await sleep(100);
    }
}

async function http(d, method, path, { body, key } = {}) {
    const headers = {};
    if (body !== undefined)
        headers['content-type'] = 'application/json';
    if (key)
        headers.authorization = `Bearer ${key}`;
    const res = await fetch(d.base + path, { method, headers,
                                             body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, text, json };
}

const api = async (d, path) => {
    const r = await http(d, 'GET', path, { key: TOKEN });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    return r.json.data;
};

// ---- the tests -------------------------------------------------------------------------

let failures = 0;
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

describe('mcphub-masterd dashboard in headless Chromium', { skip: skipReason || false, timeout: 100000 }, () => {
    let settings, stateDir, master, w1, w2, context, page, userDataDir;
    const pageErrors = [];
    const apiRequests = [];   // {t, url, auth} of the page's /api calls
    let shot = 0;

    const screenshot = async (name, opts = {}) => {
        mkdirSync(SHOTS, { recursive: true });
        const file = join(SHOTS, `${String(++shot).padStart(2, '0')}-${name}.png`);
        await page.screenshot({ path: file, fullPage: true, ...opts });
        return file;
    };
    const card = (server) => page.locator(`article[data-server="${server}"]`);
    const nodeRow = (id) => page.locator(`#nodes tbody tr[data-node="${id}"]`);
    const startMaster = (port = 0) => startDaemon('master', MASTERD,
        ['-c', settings, '--host', '127.0.0.1', '--port', String(port), '--state-dir', stateDir],
        'masterd_start');
    const startWorker = (id) => startDaemon(id, WORKERD,
        ['-c', settings, '--host', '127.0.0.1', '--port', '0', '--node-id', id,
         '--master-url', master.base], 'workerd_start');

    before(async () => {
        failures++; // until the cluster is up: keep the logs if it does not start
        for (const f of [MASTERD, WORKERD, EXAMPLE])
            assert.ok(existsSync(f), `${f} missing: run make all`);
        settings = join(TMP, 'dashboard.settings.json');
        stateDir = join(TMP, 'dashboard.state');
        mkdirSync(stateDir, { recursive: true });
        writeFileSync(settings, JSON.stringify({
            mcpServers: {
                example: { command: EXAMPLE, args: [], replicas: 1 },
                notes: { command: EXAMPLE, args: [], replicas: 1 },
            },
            cluster: { enabled: true, token: TOKEN, master: HEARTBEAT },
        }, null, 2));
        master = await startMaster();
        [w1, w2] = await Promise.all([startWorker('w1'), startWorker('w2')]);
        await waitFor('both workers online and every replica running', async () => {
            const s = await api(master, '/api/cluster/status');
            return s.nodes.online === 2 && s.replicas.running === s.replicas.desired &&
                   s.replicas.pending === 0;
        });
        for (const w of [w1, w2])
            for (const p of descendants(w.pid))
                remember(p);

        userDataDir = mkdtempSync(join(TMP, 'chromium-'));
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: CHROMIUM,
            headless: true,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                   '--disable-component-update', '--disable-sync', '--no-first-run'],
            viewport: { width: 1280, height: 900 },
            timeout: 20000,
        });
        for (const p of descendants(process.pid))
            if (![master, w1, w2].some((d) => d.pid === p))
                remember(p);
        page = context.pages()[0] || await context.newPage();
        page.setDefaultTimeout(10000);
        page.on('pageerror', (e) => pageErrors.push(String(e)));
        page.on('console', (m) => {
            if (m.type() === 'error' && /Content Security Policy|Uncaught/.test(m.text()))
                pageErrors.push(m.text());
        });
        page.on('request', (r) => {
            const u = new URL(r.url());
            if (u.pathname.startsWith('/api/'))
                apiRequests.push({ t: Date.now(), path: u.pathname, method: r.method(),
                                   auth: r.headers().authorization });
        });
        failures--;
    });

    after(async () => {
        if (context)
            await context.close().catch(() => {});
        for (const d of daemons)
            await stopDaemon(d);
        if (userDataDir)
            rmSync(userDataDir, { recursive: true, force: true });
        if (OWN_TMP && failures === 0)
            rmSync(TMP, { recursive: true, force: true });
        else if (OWN_TMP)
            console.error(`logs kept in ${TMP}`);
    });

    tracked('asks for the bearer key on 401, refuses a wrong one, keeps the right one in sessionStorage only', async (t) => {
        const anon = await http(master, 'GET', '/api/cluster/status');
        assert.equal(anon.status, 401, 'the API needs a key: the page has to ask');
        const res = await page.goto(`${master.base}/`);
        assert.equal(res.status(), 200);
        assert.match(res.headers()['content-type'], /^text\/html/);
        assert.equal(await page.title(), 'MCPHub cluster');
        const keyInput = page.getByLabel('Bearer key', { exact: true });
        await keyInput.waitFor({ state: 'visible' });
        assert.ok(await page.locator('#content').isHidden(), 'no data shown without a key');
        assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'key',
                     'the key field has the focus');
        await screenshot('key-asked');

        await keyInput.fill('not-the-token');
        await page.getByRole('button', { name: 'Connect' }).click();
        await waitFor('the wrong key refused', async () =>
            /refused/i.test(await page.locator('#auth-err').textContent()));
        assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), KEY_NAME), null,
                     'a refused key is not kept');
        const wrong = apiRequests.filter((r) => r.auth === 'Bearer not-the-token');
        assert.ok(wrong.length > 0, 'the wrong key was sent as Authorization: Bearer');

        await keyInput.fill(TOKEN);
        await keyInput.press('Enter');
        await page.locator('#content').waitFor({ state: 'visible' });
        assert.ok(await page.locator('#auth').isHidden());
        const stored = await page.evaluate((k) => ({
            session: sessionStorage.getItem(k),
            local: localStorage.length,
            cookie: document.cookie,
        }), KEY_NAME);
        assert.deepEqual(stored, { session: TOKEN, local: 0, cookie: '' });
        const withKey = apiRequests.filter((r) => r.auth === `Bearer ${TOKEN}`);
        assert.ok(withKey.some((r) => r.path === '/api/cluster/status'), 'status fetched with the key');
        t.diagnostic(`figure: /api requests so far: ${apiRequests.length}, with the right key: ${withKey.length}`);
    });

    tracked('summary cards and nodes table: both workers online, as the API says', async () => {
        for (const id of ['w1', 'w2'])
            await waitFor(`${id} shown online`, async () =>
                (await nodeRow(id).getAttribute('data-status')) === 'online');
        const nodes = await api(master, '/api/cluster/nodes');
        assert.deepEqual(nodes.map((n) => n.id).sort(), ['w1', 'w2']);
        for (const n of nodes) {
            const cells = (await nodeRow(n.id).locator('td').allInnerTexts()).map((s) => s.trim());
            const cell = async (label) => (await nodeRow(n.id).locator(`td[data-label="${label}"]`).innerText()).trim();
            assert.equal(cells.length, 8, cells.join(' | '));
            assert.equal(await cell('Node'), n.id);
            assert.equal(await cell('Role'), n.role);
            assert.equal(await cell('Address'), `${n.host}:${n.port}`);
            assert.equal(await cell('Status'), 'online');
            assert.match(await cell('Servers'), new RegExp(`^${n.serverCount} / ${n.maxServers || '\u221e'}`));
            assert.match(await cell('CPU'), /^\d+(\.\d)? %$/);
            assert.match(await cell('Memory'), /^[\d.]+ (B|KiB|MiB|GiB) \/ [\d.]+ (MiB|GiB|TiB)$/);
            const beat = await cell('Last heartbeat');
            const m = /^(\d+) s ago$/.exec(beat);
            assert.ok(m, `last heartbeat "${beat}"`);
            // heartbeats come every 500 ms; the page may be up to a poll behind.
            assert.ok(Number(m[1]) <= 4, `last heartbeat "${beat}"`);
        }
        const st = await api(master, '/api/cluster/status');
        const value = async (c) => (await page.locator(`li[data-card="${c}"] .value`).innerText()).replace(/\s+/g, ' ').trim();
        assert.equal(await value('nodes online'), `${st.nodes.online} / ${st.nodes.total}`);
        assert.equal(await value('replicas healthy'),
                     `${st.replicas.running} / ${st.replicas.running + st.replicas.pending + st.replicas.error}`);
        assert.equal(await value('open sessions'), String(st.sessions));
        assert.equal(await value('servers'), String(st.servers));
        assert.equal(await page.locator('#conn').getAttribute('data-state'), 'live');
        await screenshot('cluster');
    });

    tracked('polls about every 2 s', async (t) => {
        const t0 = Date.now();
        await sleep(6500);
        const polls = apiRequests.filter((r) => r.t >= t0 && r.path === '/api/cluster/status');
        t.diagnostic(`figure: status requests in 6.5 s: ${polls.length}`);
        assert.ok(polls.length >= 2 && polls.length <= 4, `${polls.length} status requests in 6.5 s`);
        const gaps = polls.slice(1).map((p, i) => p.t - polls[i].t);
        assert.ok(gaps.every((g) => g >= 1800 && g <= 3500), `gaps between polls: ${gaps}`);
    });

    tracked('+ then Apply changes the replicas: the API has them, then the page shows them running', async (t) => {
        const before_ = (await api(master, '/api/cluster/replicas')).find((s) => s.server === 'example');
        const c = card('example');
        const input = c.getByLabel('Desired replicas');
        assert.equal(await input.inputValue(), String(before_.replicas), 'the count shown is the API\'s');
        assert.equal(await c.locator('tbody tr').count(), before_.instances.length);

        await c.getByRole('button', { name: 'One replica more' }).click();
        assert.equal(await input.inputValue(), String(before_.replicas + 1));
        assert.ok(await c.getByText('Unsaved changes').isVisible());
        await sleep(2500); // a poll in between keeps the edit
        assert.equal(await input.inputValue(), String(before_.replicas + 1), 'a poll did not undo the edit');

        const t0 = Date.now();
        await c.getByRole('button', { name: 'Apply' }).click();
        await waitFor('the answer shown', async () => /^Applied/.test(await c.locator('.result').innerText()));
        const put = apiRequests.find((r) => r.t >= t0 && r.method === 'PUT');
        assert.equal(put.path, '/api/cluster/replicas/example');
        assert.equal(put.auth, `Bearer ${TOKEN}`);
        const now = (await api(master, '/api/cluster/replicas')).find((s) => s.server === 'example');
        assert.equal(now.replicas, before_.replicas + 1, 'the API has the new count');
        assert.ok(await c.getByText('Unsaved changes').isHidden());

        const want = before_.replicas + 1;
        const running = await waitFor(`${want} replicas of example running`, async () => {
            const s = (await api(master, '/api/cluster/replicas')).find((x) => x.server === 'example');
            const ids = s.instances.filter((i) => i.status === 'running').map((i) => i.id).sort();
            return ids.length === want && s.instances.length === want ? ids : null;
        }, 15000);
        const shown = await waitFor('the page showing them', async () => {
            const rows = c.locator('tbody tr[data-status="running"]');
            const ids = (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-replica')))).sort();
            return ids.length === want && (await c.locator('tbody tr').count()) === want ? ids : null;
        });
        assert.deepEqual(shown, running, 'the same replicas on the page as in the API');
        assert.equal(await c.locator('header .pill').innerText(), `${want} of ${want} running`);
        for (const since of await c.locator('td[data-label="Since"]').allInnerTexts())
            assert.match(since.trim(), /^\d+ (s|min \d+ s) ago$/);
        t.diagnostic(`figure: example went from ${before_.replicas} to ${want} replicas in ${Date.now() - t0} ms`);
        await screenshot('replicas-applied');
    });

    tracked('node-affinity checkboxes land in the API; an error of the master is shown as it is', async () => {
        const c = card('example');
        const w2box = c.getByRole('checkbox', { name: 'w2', exact: true });
        assert.equal(await w2box.isChecked(), false);
        await w2box.check();
        await c.getByRole('button', { name: 'Apply' }).click();
        await waitFor('the answer shown', async () => /preferred nodes: w2\./.test(await c.locator('.result').innerText()));
        const s = (await api(master, '/api/cluster/replicas')).find((x) => x.server === 'example');
        assert.deepEqual(s.affinity.nodeIds, ['w2']);
        await sleep(2500);
        assert.equal(await w2box.isChecked(), true, 'still ticked after a poll');

        // What the master says to a count it refuses, asked directly (nothing changes) ...
        const direct = await http(master, 'PUT', '/api/cluster/replicas/example',
                                  { body: { replicas: 5000 }, key: TOKEN });
        assert.equal(direct.status, 400);
        // ... is what the page shows.
        await c.getByLabel('Desired replicas').fill('5000');
        await c.getByRole('button', { name: 'Apply' }).click();
        await waitFor('the error shown', async () => /^Not applied/.test(await c.locator('.result').innerText()));
        const shown = await c.locator('.result').innerText();
        assert.ok(shown.includes(direct.json.message), `"${shown}" has "${direct.json.message}"`);
        assert.ok(shown.includes('HTTP 400'), shown);
        assert.match(await c.locator('.result').getAttribute('class'), /\bbad\b/);
        const after_ = (await api(master, '/api/cluster/replicas')).find((x) => x.server === 'example');
        assert.equal(after_.replicas, s.replicas, 'nothing changed');
        await screenshot('apply-error');
        await c.getByRole('button', { name: 'Reset' }).click();
        assert.equal(await c.getByLabel('Desired replicas').inputValue(), String(s.replicas));
    });

    tracked('a narrow window: no sideways scrolling, rows become labelled blocks; a dark scheme', async () => {
        await page.setViewportSize({ width: 380, height: 800 });
        await sleep(300);
        const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth,
                                                    win: window.innerWidth }));
        assert.ok(widths.doc <= widths.win, `page ${widths.doc} px wide in a ${widths.win} px window`);
        const display = await nodeRow('w1').evaluate((tr) => getComputedStyle(tr).display);
        assert.equal(display, 'block');
        await screenshot('narrow');
        await page.setViewportSize({ width: 1280, height: 900 });
        await page.emulateMedia({ colorScheme: 'dark' });
        const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
        assert.notEqual(bg, 'rgb(244, 246, 248)', 'a dark scheme for dark systems');
        await screenshot('dark');
        await page.emulateMedia({ colorScheme: 'light' });
    });

    tracked('kill -9 of a worker: the page shows it offline', async (t) => {
        const kids = descendants(w2.pid);
        for (const p of kids)
            remember(p);
        const t0 = Date.now();
        await stopDaemon(w2, 'SIGKILL');
        await waitFor('w2 shown offline', async () =>
            (await nodeRow('w2').getAttribute('data-status')) === 'offline', 15000);
        t.diagnostic(`figure: w2 shown offline ${Date.now() - t0} ms after kill -9 (heartbeat timeout ${HEARTBEAT.heartbeatTimeout} ms)`);
        const n = (await api(master, '/api/cluster/nodes')).find((x) => x.id === 'w2');
        assert.equal(n.status, 'offline', 'the API agrees');
        assert.equal((await nodeRow('w2').locator('td[data-label="Status"]').innerText()).trim(), 'offline');
        assert.equal((await nodeRow('w1').locator('td[data-label="Status"]').innerText()).trim(), 'online');
        const label = card('example').locator('.nodes-choice label[data-node="w2"]');
        await waitFor('w2 marked offline among the preferred nodes', async () =>
            /\(offline\)/.test(await label.innerText()));
        const st = await api(master, '/api/cluster/status');
        assert.equal((await page.locator('li[data-card="nodes online"] .value').innerText()).replace(/\s+/g, ' ').trim(),
                     `${st.nodes.online} / ${st.nodes.total}`);
        await screenshot('worker-offline');
        // The stdio servers of the killed worker lose their stdin: they should end.
        await waitFor('the killed worker\'s servers gone', async () => kids.every((p) => !alive(p)), 5000)
            .catch(() => t.diagnostic(`figure: servers of the killed worker still alive: ${kids.filter(alive)}`));
    });

    tracked('master unreachable: shown clearly, and recovery after a restart; Forget key', async (t) => {
        const port = master.port;
        const want = (await api(master, '/api/cluster/replicas')).find((x) => x.server === 'example').replicas;
        const { code } = await stopDaemon(master);
        assert.equal(code, 0);
        const t0 = Date.now();
        const banner = page.locator('#down');
        await banner.waitFor({ state: 'visible', timeout: 8000 });
        t.diagnostic(`figure: unreachable shown ${Date.now() - t0} ms after the master stopped`);
        assert.equal(await banner.getAttribute('role'), 'alert');
        assert.match(await banner.innerText(), /unreachable/i);
        assert.equal(await page.locator('#conn').getAttribute('data-state'), 'down');
        assert.ok(await page.locator('#content').isVisible(), 'the last figures stay, marked stale');
        assert.ok(await page.evaluate(() => document.body.classList.contains('stale')));
        await screenshot('master-unreachable');

        master = await startMaster(port); // same port, same state directory
        await banner.waitFor({ state: 'hidden', timeout: 8000 });
        assert.equal(await page.locator('#conn').getAttribute('data-state'), 'live');
        assert.match(await page.locator('#back').innerText(), /back/);
        assert.ok(!(await page.evaluate(() => document.body.classList.contains('stale'))));
        // The desired count was kept in the state directory, and the page says so.
        await waitFor('example shown after the restart', async () =>
            (await card('example').getByLabel('Desired replicas').inputValue()) === String(want));
        t.diagnostic(`figure: recovered ${Date.now() - t0} ms after the stop`);
        await screenshot('master-back');

        // "Forget key" drops it: the next poll asks again.
        await page.getByRole('button', { name: 'Forget key' }).click();
        await page.getByLabel('Bearer key', { exact: true }).waitFor({ state: 'visible' });
        assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), KEY_NAME), null);
        assert.ok(await page.locator('#content').isHidden());
        assert.deepEqual(pageErrors, [], 'no script errors');
    });

    tracked('standalone master: servers from /api/servers, "standalone", no key needed', async () => {
        const sa = join(TMP, 'dashboard-standalone.settings.json');
        writeFileSync(sa, JSON.stringify({ mcpServers: { example: { command: EXAMPLE, args: [] } } }));
        const m = await startDaemon('standalone', MASTERD, ['-c', sa, '--host', '127.0.0.1', '--port', '0'],
                                    'masterd_start');
        try {
            await waitFor('the standalone master\'s server connected', async () => {
                const r = await http(m, 'GET', '/api/servers');
                return r.status === 200 && r.json.data.some((s) => s.name === 'example' && s.status === 'connected' &&
                                                            s.tools.length > 0);
            });
            for (const p of descendants(m.pid))
                remember(p);
            const p2 = await context.newPage();
            try {
                await p2.goto(`${m.base}/`);
                const row = p2.locator('#servers tr[data-server="example"]');
                await row.waitFor({ state: 'visible' });
                assert.ok(await p2.locator('#auth').isHidden(), 'no key asked for');
                assert.match(await p2.locator('#who').innerText(), /standalone/);
                assert.ok(await p2.locator('#nodes-sec').isHidden(), 'no nodes table');
                const servers = (await http(m, 'GET', '/api/servers')).json.data;
                const ex = servers.find((s) => s.name === 'example');
                assert.ok(ex.tools.length > 0);
                await waitFor('the tool count shown', async () =>
                    (await row.locator('td[data-label="Tools"]').innerText()).trim() === String(ex.tools.length));
                assert.equal((await row.locator('td[data-label="Status"]').innerText()).trim(), ex.status);
                assert.equal((await p2.locator('li[data-card="mode"] .value').innerText()).trim(), 'Standalone');
                await p2.screenshot({ path: join(SHOTS, `${String(++shot).padStart(2, '0')}-standalone.png`), fullPage: true });
            } finally {
                await p2.close();
            }
        } finally {
            await stopDaemon(m);
        }
    });
});
