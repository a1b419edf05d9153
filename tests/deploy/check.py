#!/usr/bin/env python3
"""The deployment files under deploy/, checked against the daemons themselves.

Run by tests/deploy/check.sh (make check-deploy, part of make check):

    tests/deploy/check.py BUILD_DIR

What is true is taken from the tree and the built daemons, never restated
here: the flags from `mcphub-masterd --help` and `mcphub-workerd --help`, the
CLUSTER_* variables from lib/core/config_settings.c, the /health route from
lib/io/master.c and lib/io/worker.c, the version from
include/mcphub/version.h, the shared libraries from the binaries' NEEDED
entries.  Then each deployment is run for real as far as this machine
allows (no docker, no Kubernetes): the build stage of deploy/Dockerfile in a
scratch copy of the tree, and a master with its workers started with the
commands, environment and settings that the compose file, the Kubernetes
manifests and the systemd units give them (paths mapped into a temporary
directory, ports on 127.0.0.1).  Last, examples/demo.sh (make demo) is
started, used and stopped with SIGINT.

Without PyYAML (python3-yaml) the YAML parts are skipped with a message.
Ends with "check-deploy: N passed, N failed, N skipped"; exit status 1 on a
failure.
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:  # check.sh installs python3-yaml when it can
    yaml = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build'))
DEPLOY = os.path.join(ROOT, 'deploy')
SERVERS_DIR = os.path.join(BUILD, 'examples', 'servers')
DAEMONS = ('mcphub-masterd', 'mcphub-workerd')
TMP = tempfile.mkdtemp(prefix='mcphub-deploy-')
KEEP_TMP = False

counts = {'passed': 0, 'failed': 0, 'skipped': 0}


def say(msg):
    print(f'check-deploy: {msg}', flush=True)


def check(cond, what, detail=''):
    """One assertion: counted, and printed when it fails."""
    global KEEP_TMP
    if cond:
        counts['passed'] += 1
    else:
        counts['failed'] += 1
        KEEP_TMP = True
        say(f'FAIL {what}' + (f': {detail}' if detail else ''))
    return bool(cond)


def skip(what):
    counts['skipped'] += 1
    say(f'skipped: {what}')


def rel(path):
    return os.path.relpath(path, ROOT)


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


# ---- what the daemons really are ----------------------------------------------------------

def help_text(daemon):
    return subprocess.run([os.path.join(BUILD, daemon), '--help'], capture_output=True,
                          text=True, timeout=10).stdout


HELP = {d: help_text(d) for d in DAEMONS}
# Long flags as --help lists them, and the short ones it shows.
FLAGS = {d: set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', h)) |
         set(re.findall(r'(?<![\w-])(-[a-zA-Z])\b', h)) for d, h in HELP.items()}
FLAGS_WITH_VALUE = {d: set(re.findall(r'(--[a-z][a-z-]*|-[a-z]) (?:[A-Z]+|FILE|URL|ID|DIR)\b', h))
                    for d, h in HELP.items()}
m = re.search(r'--port P\s+listen port \(PORT; default (\d+)\)', HELP['mcphub-masterd'])
DEFAULT_PORT = m.group(1) if m else None

_settings_c = read(os.path.join(ROOT, 'lib/core/config_settings.c'))
_env_table = re.search(r'env_vars\[\] = \{(.*?)\n\};', _settings_c, re.S)
CLUSTER_ENV = set(re.findall(r'\{"([A-Z][A-Z0-9_]*)", "[A-Za-z.]+"\}', _env_table.group(1))) \
    if _env_table else set()
DAEMON_ENV = set()
for dirpath, _, files in os.walk(os.path.join(ROOT, 'daemons')):
    for f in files:
        if f.endswith('.c'):
            DAEMON_ENV |= set(re.findall(r'getenv\("([A-Z][A-Z0-9_]*)"\)', read(os.path.join(dirpath, f))))
KNOWN_ENV = CLUSTER_ENV | DAEMON_ENV

HEALTH_ROUTES = {}
for role, src in (('master', 'lib/io/master.c'), ('worker', 'lib/io/worker.c')):
    HEALTH_ROUTES[role] = set(re.findall(r'strcmp\(path, "(/health[^"]*)"\) == 0', read(os.path.join(ROOT, src))))

_version_h = read(os.path.join(ROOT, 'include/mcphub/version.h'))
VERSION = '.'.join(re.search(rf'#define MCPHUB_VERSION_{p} (\d+)', _version_h).group(1)
                   for p in ('MAJOR', 'MINOR', 'PATCH'))
IMAGE = f'libmcphub-cluster:{VERSION}'
_makefile = read(os.path.join(ROOT, 'Makefile'))
PREFIX = re.search(r'^PREFIX \?= (\S+)', _makefile, re.M).group(1)
SBINDIR = re.search(r'^SBINDIR \?= (\S+)', _makefile, re.M).group(1).replace('$(EXEC_PREFIX)', PREFIX)


def ground_truth():
    check(DEFAULT_PORT is not None, 'mcphub-masterd --help names the default port')
    for d in DAEMONS:
        check({'--config', '--port', '--host', '--node-id', '--token'} <= FLAGS[d],
              f'{d} --help lists its flags', sorted(FLAGS[d]))
    check('--state-dir' in FLAGS['mcphub-masterd'] and '--master-url' in FLAGS['mcphub-workerd'],
          'the master has --state-dir and the worker --master-url')
    check({'CLUSTER_TOKEN', 'CLUSTER_MASTER_URL', 'CLUSTER_ADVERTISE_HOST', 'PORT'} <= CLUSTER_ENV,
          'lib/core/config_settings.c maps the CLUSTER_* variables', sorted(CLUSTER_ENV))
    check(HEALTH_ROUTES['master'] == {'/health'} and HEALTH_ROUTES['worker'] == {'/health'},
          'the master and the worker serve /health', HEALTH_ROUTES)
    say(f'the daemons: version {VERSION}, default port {DEFAULT_PORT}, '
        f'{len(CLUSTER_ENV)} CLUSTER_*/PORT variables, flags from --help')


def check_command(where, argv):
    """A daemon's command line in a deployment file; returns (daemon, {flag: value})."""
    daemon = os.path.basename(argv[0]) if argv else ''
    if not check(daemon in DAEMONS, f'{where}: runs one of the daemons', argv):
        return None, {}
    if os.path.dirname(argv[0]):
        check(os.path.dirname(argv[0]) == SBINDIR, f'{where}: {argv[0]} is where make install puts it',
              f'SBINDIR is {SBINDIR}')
    opts, i = {}, 1
    while i < len(argv):
        a = argv[i]
        name = a.split('=', 1)[0]
        if not check(a.startswith('-') and name in FLAGS[daemon], f'{where}: {daemon} knows {a}',
                     'not in its --help'):
            i += 1
            continue
        if '=' in a:
            opts[name] = a.split('=', 1)[1]
        elif name in FLAGS_WITH_VALUE[daemon] or name in ('-c', '--config'):
            check(i + 1 < len(argv), f'{where}: {a} has a value')
            opts[name] = argv[i + 1] if i + 1 < len(argv) else ''
            i += 1
        else:
            opts[name] = True
        i += 1
    return daemon, opts


def settings_flag(opts):
    return opts.get('-c') or opts.get('--config')


def check_env_names(where, names):
    for n in names:
        check(n in KNOWN_ENV or n == 'HOME', f'{where}: {n} is a variable the daemons read',
              'not in lib/core/config_settings.c nor a getenv() of daemons/')


def check_settings_json(where, text):
    """A settings file: JSON, with servers and an enabled cluster section."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        check(False, f'{where}: settings are JSON', e)
        return None
    check(isinstance(doc.get('mcpServers'), dict) and doc['mcpServers'],
          f'{where}: settings have mcpServers')
    check(doc.get('cluster', {}).get('enabled') is True, f'{where}: settings enable the cluster')
    return doc


# ---- YAML ------------------------------------------------------------------------------------

if yaml is not None:
    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""

    def _mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        seen = set()
        for k, _ in node.value:
            key = loader.construct_object(k, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f'duplicate key {key!r}',
                                                        k.start_mark)
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def yaml_files():
    out = []
    for dirpath, _, files in os.walk(DEPLOY):
        out += [os.path.join(dirpath, f) for f in sorted(files) if f.endswith(('.yml', '.yaml'))]
    return sorted(out)


def load_yaml(path):
    with open(path, encoding='utf-8') as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]


def check_yaml_parses():
    files = yaml_files()
    check(len(files) >= 5, 'deploy/ has the compose file and the Kubernetes manifests',
          [rel(f) for f in files])
    for f in files:
        try:
            docs = load_yaml(f)
            check(docs and all(isinstance(d, dict) for d in docs), f'{rel(f)}: YAML mappings')
        except yaml.YAMLError as e:
            check(False, f'{rel(f)} parses as YAML', str(e).replace('\n', ' '))
    say(f'{len(files)} YAML files parse (no duplicate keys)')


# ---- processes -------------------------------------------------------------------------------

def proc_children():
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    st = f.read()
                ppid = int(st[st.rindex(')') + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError):
                pass
    return kids


def descendants(pid):
    kids, out, todo = proc_children(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def starttime(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            st = f.read()
        rest = st[st.rindex(')') + 2:].split()
        return None if rest[0] == 'Z' else rest[19]
    except (OSError, ValueError, IndexError):
        return None


def proc_cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return '?'


class Procs:
    """Every process a check starts, with its descendants, so that all die."""

    def __init__(self):
        self.children = []   # Popen objects
        self.seen = {}       # pid -> starttime of everything observed

    def start(self, argv, env, log_path, **kw):
        log = open(log_path, 'ab')
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, **kw)
        log.close()
        self.children.append(p)
        self.observe()
        return p

    def observe(self):
        for p in self.children:
            for pid in [p.pid] + descendants(p.pid):
                st = starttime(pid)
                if st is not None:
                    self.seen.setdefault(pid, st)

    def alive(self):
        return [pid for pid, st in self.seen.items() if starttime(pid) == st]

    def kill_all(self):
        self.observe()
        for p in self.children:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for p in self.children:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


ALL_PROCS = []


def http(url, method='GET', body=None, headers=None, timeout=3):
    """(status, body text, headers); status 0 when nothing answered."""
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode('utf-8', 'replace'), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode('utf-8', 'replace'), e.headers
    except (OSError, ValueError):
        return 0, '', {}


def log_port(path, event, proc, timeout=20):
    """The port=N of the daemon's start line, or None if it exits or times out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = re.search(rf'event={event} .*\bport=(\d+)', read(path))
            if m:
                return int(m.group(1))
        except OSError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


def tail(path, n=12):
    try:
        return '\n    '.join(read(path).splitlines()[-n:])
    except OSError:
        return '(no log)'


def run_cluster(name, master, workers, token, expect_nodes=None):
    """Start a master and workers as a deployment describes them and check that
    they form a cluster: every /health probe answers 200, the workers
    register with the token, the replicas run.  master and each worker:
    {argv, env, probe}; argv and env already mapped to this machine, with
    CLUSTER_MASTER_URL left as '{MASTER_URL}'."""
    procs = Procs()
    ALL_PROCS.append(procs)
    failed_before = counts['failed']
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    try:
        mlog = os.path.join(d, 'master.log')
        mp = procs.start(master['argv'], master['env'], mlog)
        mport = log_port(mlog, 'masterd_start', mp)
        if not check(mport, f'{name}: the master starts', tail(mlog)):
            return
        base = f'http://127.0.0.1:{mport}'
        wps = []
        for i, w in enumerate(workers):
            env = {k: v.replace('{MASTER_URL}', base) for k, v in w['env'].items()}
            argv = [a.replace('{MASTER_URL}', base) for a in w['argv']]
            wlog = os.path.join(d, f'worker{i + 1}.log')
            wp = procs.start(argv, env, wlog)
            wps.append((wp, wlog, w))
        wports = []
        for wp, wlog, w in wps:
            port = log_port(wlog, 'workerd_start', wp)
            check(port, f'{name}: a worker starts', tail(wlog))
            wports.append(port)
        if not all(wports):
            return
        # The cluster forms: every worker online, the desired replicas running.
        deadline, health = time.time() + 30, {}
        while time.time() < deadline:
            procs.observe()
            st, body, _ = http(base + master['probe'])
            try:
                health = json.loads(body) if st == 200 else {}
            except ValueError:
                health = {}
            c = health.get('cluster', {})
            if (c.get('online') == len(workers) and c.get('replicasDesired', 0) > 0 and
                    c.get('replicasRunning', 0) >= c['replicasDesired']):
                break
            time.sleep(0.2)
        c = health.get('cluster', {})
        check(c.get('online') == len(workers) and c.get('replicasRunning', 0) >= c.get('replicasDesired', 1) > 0,
              f'{name}: {len(workers)} workers online and every replica running within 30 s',
              f'last {master["probe"]}: {health}\n    master log:\n    {tail(mlog)}')
        # The master knows every server's tools (its catalog refreshes on its own).
        auth = {'Authorization': f'Bearer {token}'}
        deadline, servers = time.time() + 15, []
        while time.time() < deadline:
            st, body, _ = http(base + '/api/servers', headers=auth)
            try:
                servers = json.loads(body)['data']
            except (ValueError, KeyError, TypeError):
                servers = []
            if servers and all(s.get('tools') for s in servers):
                break
            time.sleep(0.2)
        check(servers and all(s.get('tools') for s in servers),
              f'{name}: /api/servers lists every server\'s tools within 15 s',
              [(s.get('name'), s.get('status'), len(s.get('tools') or [])) for s in servers])
        st, _, _ = http(base + master['probe'])
        check(st == 200, f'{name}: the master\'s probe {master["probe"]} answers 200', st)
        for port, (wp, wlog, w) in zip(wports, wps):
            st, _, _ = http(f'http://127.0.0.1:{port}{w["probe"]}')
            check(st == 200, f'{name}: a worker\'s probe {w["probe"]} answers 200', st)
        st, body, _ = http(base + '/api/cluster/nodes', headers=auth)
        ids = []
        try:
            ids = sorted(n['id'] for n in json.loads(body)['data'] if n.get('status') == 'online')
        except (ValueError, KeyError, TypeError):
            pass
        if expect_nodes is not None:
            check(ids == sorted(expect_nodes), f'{name}: the nodes are the ones the file names',
                  f'{ids} != {sorted(expect_nodes)}')
        st, _, _ = http(base + '/api/cluster/status')
        check(st == 401, f'{name}: the cluster API wants the token from the deployment\'s secret', st)
        # An MCP client gets through the master to a replica.
        st, body, hd = http(base + '/mcp', 'POST', json.dumps({
            'jsonrpc': '2.0', 'id': 1, 'method': 'initialize',
            'params': {'protocolVersion': '2025-06-18', 'capabilities': {},
                       'clientInfo': {'name': 'check-deploy', 'version': '1'}}}).encode(),
            {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'})
        check(st == 200 and hd.get('Mcp-Session-Id'), f'{name}: MCP initialize on /mcp', f'{st} {body[:200]}')
        sid = hd.get('Mcp-Session-Id') if st == 200 else None
        if sid:
            h = {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream',
                 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18'}
            http(base + '/mcp', 'POST', b'{"jsonrpc":"2.0","method":"notifications/initialized"}', h)
            server = sorted(json.loads(read_settings_of(master)).get('mcpServers'))[0]
            st, body, _ = http(base + '/mcp', 'POST', json.dumps({
                'jsonrpc': '2.0', 'id': 2, 'method': 'tools/call',
                'params': {'name': f'{server}-whoami', 'arguments': {}}}).encode(), h, timeout=10)
            check(st == 200 and f'of server {server}' in body, f'{name}: a tool call reaches a replica',
                  f'{st} {body[:300]}')
        # SIGTERM, workers first: each exits 0 and nothing is left.
        procs.observe()
        for wp, _, _ in wps:
            wp.send_signal(signal.SIGTERM)
        for wp, wlog, _ in wps:
            try:
                rc = wp.wait(15)
            except subprocess.TimeoutExpired:
                rc = 'still running after 15 s'
            check(rc == 0, f'{name}: a worker exits 0 on SIGTERM', f'{rc}\n    {tail(wlog)}')
        mp.send_signal(signal.SIGTERM)
        try:
            rc = mp.wait(15)
        except subprocess.TimeoutExpired:
            rc = 'still running after 15 s'
        check(rc == 0, f'{name}: the master exits 0 on SIGTERM', rc)
        time.sleep(0.3)
        left = procs.alive()
        check(not left, f'{name}: no process left after SIGTERM', left)
        if counts['failed'] == failed_before:
            say(f'{name}: master + {len(workers)} workers ran as the files say: probes, token, '
                f'replicas, an MCP call, clean stop')
    finally:
        procs.kill_all()


def read_settings_of(spec):
    argv = spec['argv']
    for i, a in enumerate(argv):
        if a in ('-c', '--config') and i + 1 < len(argv):
            return read(argv[i + 1])
    return read(spec['env']['MCPHUB_SETTING_PATH'])


def base_env():
    """What a container or a unit starts with: a PATH where mcp-example-server
    is found (the image has it in /usr/local/bin), a HOME, no CLUSTER_*."""
    env = {k: v for k, v in os.environ.items()
           if k not in KNOWN_ENV and not k.startswith('CLUSTER_') and k != 'PORT'}
    env['PATH'] = SERVERS_DIR + os.pathsep + env.get('PATH', '/usr/bin:/bin')
    env['HOME'] = TMP
    env['MCPHUB_LOG_LEVEL'] = 'info'
    return env


def map_paths(s, mapping):
    for a, b in mapping.items():
        s = s.replace(a, b)
    return s


# ---- Dockerfile ----------------------------------------------------------------------------------

def dockerfile_instructions(path):
    """[(stage_index, INSTRUCTION, args)] with continuations joined."""
    out, cur, stage = [], '', -1
    for line in read(path).splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith('#')):
            continue
        if cur and s.startswith('#'):
            continue
        cur += (' ' if cur else '') + (s[:-1].rstrip() if s.endswith('\\') else s)
        if s.endswith('\\'):
            continue
        word, _, rest = cur.partition(' ')
        if word.upper() == 'FROM':
            stage += 1
        out.append((stage, word.upper(), rest.strip()))
        cur = ''
    return out


def apt_packages(run_args):
    m = re.search(r'apt-get install ([^&;]*)', run_args)
    return [w for w in (m.group(1).split() if m else []) if not w.startswith('-') and '\\' not in w]


DOCKER = {}


def check_dockerfile():
    path = os.path.join(DEPLOY, 'Dockerfile')
    check(not os.path.exists(os.path.join(ROOT, 'Dockerfile')), 'no Dockerfile at the top level')
    if not check(os.path.isfile(path), 'deploy/Dockerfile exists'):
        return
    ins = dockerfile_instructions(path)
    froms = [(s, a) for s, w, a in ins if w == 'FROM']
    check(len(froms) >= 2, 'Dockerfile: multi-stage (two FROM lines or more)', froms)
    names = {}
    for s, a in froms:
        m = re.match(r'(\S+)(?:\s+AS\s+(\S+))?', a, re.I)
        check(re.match(r'debian:[a-z]+-slim$', m.group(1)), f'Dockerfile: stage {s} is FROM a Debian slim image', a)
        if m.group(2):
            names[m.group(2)] = s
    final = froms[-1][0]
    build_stage = names.get('build', 0)
    check(build_stage != final, 'Dockerfile: a build stage apart from the runtime stage', names)
    runs = {s: [a for st, w, a in ins if st == s and w == 'RUN'] for s in range(final + 1)}
    check(any(re.search(r'\bmake\b', r) for r in runs[build_stage]), 'Dockerfile: the build stage runs make')
    check(any(w == 'COPY' and a.startswith('--from=build') for s, w, a in ins if s == final),
          'Dockerfile: the runtime stage copies from the build stage only what was built')
    # Runtime packages: exactly what the binaries need, no build tools.
    rt_pkgs = [p for r in runs[final] for p in apt_packages(r)]
    DOCKER['runtime_packages'] = rt_pkgs
    for p in ('libmicrohttpd12', 'libjansson4', 'libcurl3-gnutls', 'libgnutls30'):
        check(p in rt_pkgs, f'Dockerfile: the runtime stage installs {p}', rt_pkgs)
    check(not [p for p in rt_pkgs if p.endswith('-dev') or p in ('gcc', 'make', 'build-essential')],
          'Dockerfile: no build tools in the runtime stage', rt_pkgs)
    if shutil.which('apt-cache'):
        for p in sorted(set(rt_pkgs + [p for r in runs[build_stage] for p in apt_packages(r)])):
            r = subprocess.run(['apt-cache', 'show', '--no-all-versions', p], capture_output=True, text=True)
            check(r.returncode == 0 and f'Package: {p}' in r.stdout,
                  f'Dockerfile: {p} is a Debian package (apt-cache show)', r.stderr.strip()[:200])
    else:
        skip('apt-cache not found: package names not looked up')
    check_needed_libs(rt_pkgs)
    # User, health check, port, command, settings.
    users = [a for s, w, a in ins if s == final and w == 'USER']
    check(users and users[-1].split(':')[0] not in ('root', '0'), 'Dockerfile: runs as a non-root USER', users)
    DOCKER['uid'] = users[-1].split(':')[0] if users else None
    hc = [a for s, w, a in ins if s == final and w == 'HEALTHCHECK']
    check(hc and '/health' in hc[-1] and (DEFAULT_PORT in hc[-1] or '${PORT' in hc[-1]),
          'Dockerfile: HEALTHCHECK on /health at the daemon\'s port', hc)
    if hc:
        tool = re.search(r'CMD\s+(\S+)', hc[-1])
        check(tool and tool.group(1) in ('busybox', 'curl', 'wget'), 'Dockerfile: the health check uses busybox, curl or wget', hc)
        if tool and tool.group(1) != 'curl':
            check(tool.group(1) in rt_pkgs, f'Dockerfile: {tool.group(1)} is installed in the runtime stage')
        elif tool:
            check('curl' in rt_pkgs, 'Dockerfile: curl is installed in the runtime stage')
    expose = [a for s, w, a in ins if s == final and w == 'EXPOSE']
    check(expose and expose[-1].split('/')[0] == DEFAULT_PORT, f'Dockerfile: EXPOSE {DEFAULT_PORT}, the daemons\' default port', expose)
    env = {}
    for s, w, a in ins:
        if s == final and w == 'ENV':
            for k, v in re.findall(r'(\w+)=(\S+)', a):
                env[k] = v
    check_env_names('Dockerfile ENV', env)
    DOCKER['env'] = env
    check(env.get('MCPHUB_SETTING_PATH') == '/etc/mcphub/mcp_settings.json',
          'Dockerfile: settings at /etc/mcphub/mcp_settings.json (MCPHUB_SETTING_PATH)', env)
    if 'PORT' in env:
        check(env['PORT'] == DEFAULT_PORT, 'Dockerfile: PORT is the exposed port', env)
    cmd = [a for s, w, a in ins if s == final and w in ('CMD', 'ENTRYPOINT')]
    try:
        cmd_argv = json.loads(cmd[-1]) if cmd else []
    except ValueError:
        cmd_argv = []
    check(cmd_argv, 'Dockerfile: CMD in exec (JSON) form', cmd)
    if cmd_argv:
        check_command('Dockerfile CMD', cmd_argv)
    DOCKER['cmd'] = cmd_argv
    # COPY sources exist; the build stage, run for real.
    copies = [a.split()[:-1] for s, w, a in ins if s == build_stage and w == 'COPY']
    for srcs in copies:
        for src in srcs:
            check(os.path.exists(os.path.join(ROOT, src)), f'Dockerfile: COPY source {src} exists')
    if os.environ.get('MCPHUB_DEPLOY_QUICK') == '1':
        skip('MCPHUB_DEPLOY_QUICK=1: the build stage is not run')
    else:
        emulate_build_stage(ins, build_stage, copies)
    ignore = os.path.join(DEPLOY, 'Dockerfile.dockerignore')
    if check(os.path.isfile(ignore), 'deploy/Dockerfile.dockerignore exists (the context is the top of the tree)'):
        lines = [l.strip() for l in read(ignore).splitlines() if l.strip() and not l.startswith('#')]
        check('build' in lines and 'deploy/cluster.env' in lines,
              'Dockerfile.dockerignore: leaves out build output and the token file', lines)
    say(f'deploy/Dockerfile: {len(froms)} stages, runtime packages {" ".join(rt_pkgs)}, '
        f'USER {DOCKER["uid"]}, HEALTHCHECK, EXPOSE {DEFAULT_PORT}')


def check_needed_libs(rt_pkgs):
    """Every shared library the binaries need comes from a runtime package (or libc6)."""
    if not (shutil.which('readelf') and shutil.which('dpkg')):
        skip('readelf or dpkg not found: shared libraries not matched to packages')
        return
    bins = [os.path.join(BUILD, d) for d in DAEMONS] + [os.path.join(SERVERS_DIR, 'mcp-example-server')]
    libs = set()
    for b in bins:
        out = subprocess.run(['readelf', '-d', b], capture_output=True, text=True).stdout
        libs |= set(re.findall(r'NEEDED.*\[(.+?)\]', out))
    owners = {}
    for lib in sorted(libs):
        r = subprocess.run(['dpkg', '-S', f'*/{lib}'], capture_output=True, text=True)
        pkgs = {line.split(':')[0] for line in r.stdout.splitlines()
                if line.rstrip().endswith(f'/{lib}') and '/lib32/' not in line and '/libx32/' not in line}
        owners[lib] = pkgs
        check(pkgs & (set(rt_pkgs) | {'libc6'}),
              f'Dockerfile: {lib} (NEEDED by the binaries) comes from a runtime package',
              f'owned by {sorted(pkgs) or "nothing dpkg knows"}')
    say('the binaries need ' + ', '.join(f'{l} ({"/".join(sorted(p))})' for l, p in owners.items()))


def emulate_build_stage(ins, build_stage, copies):
    """The build stage's COPY and RUN steps (but apt-get) in a scratch copy of
    the tree, /out mapped to a temporary directory; then what the runtime
    stage takes must be there and run."""
    src = os.path.join(TMP, 'docker-build', 'src')
    out = os.path.join(TMP, 'docker-build', 'out')
    os.makedirs(src)
    for srcs in copies:
        for s in srcs:
            p = os.path.join(ROOT, s)
            if os.path.isdir(p):
                shutil.copytree(p, os.path.join(src, s.rstrip('/')), symlinks=True)
            elif os.path.isfile(p):
                shutil.copy2(p, os.path.join(src, os.path.basename(s)))
    t0 = time.time()
    for s, w, a in ins:
        if s != build_stage or w != 'RUN' or 'apt-get' in a:
            continue
        cmd = re.sub(r'(?<![\w/])/out\b', out, a)
        r = subprocess.run(['sh', '-c', cmd], cwd=src, capture_output=True, text=True, timeout=600)
        if not check(r.returncode == 0, 'Dockerfile: the build stage\'s RUN succeeds in a scratch copy',
                     f'{a}\n    {r.stderr[-800:]}'):
            return
    final_copy = [a for st, w, a in ins if w == 'COPY' and a.startswith('--from=build')]
    check(final_copy and final_copy[-1].split()[1].rstrip('/') == '/out',
          'Dockerfile: the runtime stage takes /out of the build stage', final_copy)
    for f, role in (('usr/local/sbin/mcphub-masterd', 'master'), ('usr/local/sbin/mcphub-workerd', 'worker'),
                    ('usr/local/bin/mcp-example-server', 'example server'),
                    ('etc/mcphub/mcp_settings.json', 'settings')):
        p = os.path.join(out, f)
        check(os.path.isfile(p), f'Dockerfile: the image gets /{f} ({role})')
    for d in DAEMONS:
        p = os.path.join(out, 'usr/local/sbin', d)
        if os.path.isfile(p):
            r = subprocess.run([p, '--version'], capture_output=True, text=True, timeout=10)
            check(r.returncode == 0 and VERSION in r.stdout, f'Dockerfile: the image\'s {d} runs', r.stdout + r.stderr)
    if DOCKER.get('cmd'):
        check(os.path.isfile(os.path.join(out, 'usr/local/sbin', os.path.basename(DOCKER['cmd'][0])))
              or os.path.isfile(os.path.join(out, 'usr/local/bin', os.path.basename(DOCKER['cmd'][0]))),
              'Dockerfile: CMD names an installed program', DOCKER['cmd'])
    settings = os.path.join(out, 'etc/mcphub/mcp_settings.json')
    if os.path.isfile(settings):
        check_settings_json('the image\'s /etc/mcphub/mcp_settings.json', read(settings))
    DOCKER['out'] = out
    say(f'deploy/Dockerfile: build stage run in a scratch copy in {time.time() - t0:.0f} s: '
        f'both daemons, the example server and the settings installed')


# ---- compose --------------------------------------------------------------------------------------

def env_file_vars(path):
    """KEY=value lines, and the keys of commented-out ones."""
    active, commented = {}, set()
    for line in read(path).splitlines():
        m = re.match(r'\s*([A-Z][A-Z0-9_]*)=(.*)$', line)
        if m:
            active[m.group(1)] = m.group(2).strip().strip('"\'')
            continue
        m = re.match(r'\s*#\s*([A-Z][A-Z0-9_]*)=', line)
        if m:
            commented.add(m.group(1))
    return active, commented


def interpolate(s, env=None):
    """Compose's ${VAR:-default} with VAR unset."""
    return re.sub(r'\$\{(\w+)(?::?-([^}]*))?\}', lambda m: (env or {}).get(m.group(1), m.group(2) or ''), s)


def check_env_example():
    path = os.path.join(DEPLOY, 'cluster.env.example')
    if not check(os.path.isfile(path), 'deploy/cluster.env.example exists'):
        return {}
    active, commented = env_file_vars(path)
    check('CLUSTER_TOKEN' in active, 'cluster.env.example sets CLUSTER_TOKEN', active)
    check_env_names('cluster.env.example', sorted(set(active) | commented))
    return active


def check_compose():
    path = os.path.join(DEPLOY, 'docker-compose.cluster.yml')
    if not check(os.path.isfile(path), 'deploy/docker-compose.cluster.yml exists'):
        return
    doc = load_yaml(path)[0]
    services = doc.get('services', {})
    env_example = check_env_example()
    masters, workers = [], []
    for name, svc in services.items():
        where = f'compose {name}'
        check(svc.get('image') == IMAGE, f'{where}: image {IMAGE}', svc.get('image'))
        b = svc.get('build') or {}
        if b:
            ctx = os.path.normpath(os.path.join(DEPLOY, b.get('context', '.')))
            check(ctx == ROOT and os.path.normpath(os.path.join(ctx, b.get('dockerfile', 'Dockerfile'))) ==
                  os.path.join(DEPLOY, 'Dockerfile'), f'{where}: builds deploy/Dockerfile from the top of the tree', b)
        ef = svc.get('env_file')
        ef = [ef] if isinstance(ef, str) else ef or []
        check(ef == ['cluster.env'], f'{where}: the token comes from env_file cluster.env', ef)
        env = svc.get('environment') or {}
        if isinstance(env, list):
            env = dict(e.split('=', 1) for e in env)
        env = {k: str(v) for k, v in env.items()}
        check_env_names(where, env)
        check('CLUSTER_TOKEN' not in env, f'{where}: no token written in the compose file')
        argv = svc.get('command') or DOCKER.get('cmd') or []
        if isinstance(argv, str):
            argv = shlex.split(argv)
        daemon, opts = check_command(where, argv)
        hc = svc.get('healthcheck', {}).get('test', [])
        hc_s = ' '.join(hc) if isinstance(hc, list) else str(hc)
        port = env.get('PORT', DOCKER.get('env', {}).get('PORT', DEFAULT_PORT))
        m = re.search(r'https?://[^/\s:]+:(\d+)(/\S*)', hc_s)
        check(m and m.group(1) == port and m.group(2) == '/health',
              f'{where}: healthcheck GETs /health on the port it listens on ({port})', hc_s)
        probe = m.group(2) if m else '/health'
        if m and DOCKER.get('runtime_packages') is not None and hc and hc[0] == 'CMD':
            check(hc[1] in DOCKER['runtime_packages'] or hc[1] in ('sh',),
                  f'{where}: the healthcheck\'s {hc[1]} is in the image')
        vols = [interpolate(v) if isinstance(v, str) else v for v in svc.get('volumes', [])]
        cfg = settings_flag(opts) or DOCKER.get('env', {}).get('MCPHUB_SETTING_PATH')
        mounted = {v.split(':')[1]: v.split(':')[0] for v in vols if isinstance(v, str) and v.count(':') >= 1}
        check(cfg in mounted, f'{where}: the settings file {cfg} is mounted', vols)
        settings_src = os.path.normpath(os.path.join(DEPLOY, mounted.get(cfg, '')))
        check(os.path.isfile(settings_src), f'{where}: the default settings source exists', settings_src)
        spec = {'name': name, 'daemon': daemon, 'opts': opts, 'env': env, 'argv': argv,
                'settings': settings_src, 'probe': probe, 'svc': svc, 'mounted': mounted}
        (masters if daemon == 'mcphub-masterd' else workers).append(spec)
    check(len(masters) == 1 and len(workers) >= 2, 'compose: one master and two workers',
          [s['name'] for s in masters + workers])
    if not masters:
        return
    mst = masters[0]
    mport = mst['env'].get('PORT', DEFAULT_PORT)
    check(any(str(p).split(':')[-1] == mport for p in mst['svc'].get('ports', [])),
          f'compose: the master publishes its port {mport}', mst['svc'].get('ports'))
    state = mst['opts'].get('--state-dir') or mst['env'].get('CLUSTER_STATE_DIR') or DOCKER.get('env', {}).get('CLUSTER_STATE_DIR')
    check(state and state in mst['mounted'] and mst['mounted'][state] in (doc.get('volumes') or {}),
          f'compose: the master\'s state dir {state} is a named volume', mst['mounted'])
    check(mst['env'].get('CLUSTER_ENABLED', 'true') in ('true', '1', 'yes', 'on'), 'compose: the master has the cluster on')
    for w in workers:
        where = f'compose {w["name"]}'
        check(w['env'].get('CLUSTER_MASTER_URL') == f'http://{mst["name"]}:{mport}',
              f'{where}: CLUSTER_MASTER_URL is the master service', w['env'].get('CLUSTER_MASTER_URL'))
        check(w['env'].get('CLUSTER_ADVERTISE_HOST') == w['name'],
              f'{where}: CLUSTER_ADVERTISE_HOST is its service name', w['env'].get('CLUSTER_ADVERTISE_HOST'))
        dep = w['svc'].get('depends_on') or {}
        check(mst['name'] in dep, f'{where}: depends on the master', dep)
    say(f'deploy/docker-compose.cluster.yml: {len(masters)} master, {len(workers)} workers, image {IMAGE}')
    # Run it: the containers' commands and environment, on this machine.
    token = 'check-deploy-' + os.urandom(8).hex()
    state_dir = os.path.join(TMP, 'compose-state')
    image_env = dict(DOCKER.get('env', {}))

    def spec_for(s, is_master):
        mapping = {'/etc/mcphub/mcp_settings.json': s['settings'], state or '/var/lib/mcphub': state_dir}
        env = base_env()
        env.update({k: map_paths(v, mapping) for k, v in image_env.items()})
        env.update({k: v for k, v in env_example.items()})
        env['CLUSTER_TOKEN'] = token
        env.update(s['env'])
        env['PORT'] = '0'
        if not is_master:
            env['CLUSTER_MASTER_URL'] = '{MASTER_URL}'
            env['CLUSTER_ADVERTISE_HOST'] = '127.0.0.1'
        argv = [os.path.join(BUILD, s['daemon'])] + \
            [map_paths(a, mapping) for a in s['argv'][1:]] + ['--host', '127.0.0.1']
        return {'argv': argv, 'env': env, 'probe': s['probe']}
    run_cluster('compose', spec_for(mst, True), [spec_for(w, False) for w in workers], token,
                expect_nodes=[w['env'].get('CLUSTER_NODE_ID', w['name']) for w in workers])


# ---- Kubernetes ----------------------------------------------------------------------------------

def check_kubernetes():
    kdir = os.path.join(DEPLOY, 'kubernetes')
    if not check(os.path.isdir(kdir), 'deploy/kubernetes exists'):
        return
    objs = {}
    for f in sorted(os.listdir(kdir)):
        if f.endswith(('.yaml', '.yml')) and f != 'kustomization.yaml':
            for d in load_yaml(os.path.join(kdir, f)):
                objs[(d.get('kind'), d.get('metadata', {}).get('name'))] = (f, d)
    kust = os.path.join(kdir, 'kustomization.yaml')
    if check(os.path.isfile(kust), 'kubernetes: kustomization.yaml exists'):
        res = load_yaml(kust)[0].get('resources', [])
        files = sorted(f for f in os.listdir(kdir) if f.endswith(('.yaml', '.yml')) and f != 'kustomization.yaml')
        check(sorted(res) == files, 'kubernetes: kustomization.yaml lists every manifest', f'{res} vs {files}')
        if shutil.which('kubectl'):
            r = subprocess.run(['kubectl', 'kustomize', kdir], capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, 'kubernetes: kubectl kustomize builds it', r.stderr[:400])
        else:
            skip('kubectl not found: kubectl kustomize not run')
    kinds = sorted(k for k, _ in objs)
    for k in ('ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Secret', 'Service'):
        check(k in kinds, f'kubernetes: a {k}', kinds)
    deps = {n: d for (k, n), (_, d) in objs.items() if k == 'Deployment'}
    secrets = {n: d for (k, n), (_, d) in objs.items() if k == 'Secret'}
    cms = {n: d for (k, n), (_, d) in objs.items() if k == 'ConfigMap'}
    pvcs = {n for (k, n) in objs if k == 'PersistentVolumeClaim'}
    svcs = {n: d for (k, n), (_, d) in objs.items() if k == 'Service'}
    specs, token_ref = {}, None
    for name, d in deps.items():
        where = f'kubernetes {name}'
        spec = d['spec']
        tmpl = spec['template']
        labels = tmpl.get('metadata', {}).get('labels', {})
        sel = spec.get('selector', {}).get('matchLabels', {})
        check(sel and all(labels.get(k) == v for k, v in sel.items()), f'{where}: selector matches the pod labels')
        pod = tmpl['spec']
        sc = pod.get('securityContext', {})
        check(sc.get('runAsNonRoot') is True, f'{where}: runAsNonRoot')
        if DOCKER.get('uid') and 'runAsUser' in sc:
            check(str(sc['runAsUser']) == DOCKER['uid'], f'{where}: runAsUser is the image\'s USER', sc)
        c = pod['containers'][0]
        check(c.get('image') == IMAGE, f'{where}: image {IMAGE}', c.get('image'))
        argv = (c.get('command') or []) + (c.get('args') or []) or DOCKER.get('cmd', [])
        daemon, opts = check_command(where, argv)
        env, refs = {}, {}
        for e in c.get('env', []):
            if 'value' in e:
                env[e['name']] = str(e['value'])
            else:
                refs[e['name']] = e.get('valueFrom', {})
        check_env_names(where, list(env) + list(refs))
        tok = refs.get('CLUSTER_TOKEN', {}).get('secretKeyRef')
        if check(tok, f'{where}: CLUSTER_TOKEN from a Secret', refs.get('CLUSTER_TOKEN')):
            s = secrets.get(tok['name'], {})
            check(tok['key'] in (s.get('stringData') or {}) or tok['key'] in (s.get('data') or {}),
                  f'{where}: the Secret {tok["name"]} has the key {tok["key"]}')
            token_ref = (tok['name'], tok['key'])
        port = env.get('PORT', DOCKER.get('env', {}).get('PORT', DEFAULT_PORT))
        ports = {p.get('name'): str(p['containerPort']) for p in c.get('ports', [])}
        check(port in ports.values(), f'{where}: containerPort is the port it listens on ({port})', ports)
        probe = None
        for kind in ('readinessProbe', 'livenessProbe'):
            hg = c.get(kind, {}).get('httpGet', {})
            pport = str(ports.get(hg.get('port'), hg.get('port')))
            check(hg.get('path') == '/health' and pport == port, f'{where}: {kind} GETs /health on port {port}', hg)
            probe = hg.get('path', '/health')
        mounts = {m['mountPath']: m['name'] for m in c.get('volumeMounts', [])}
        vols = {v['name']: v for v in pod.get('volumes', [])}
        cfg = settings_flag(opts) or DOCKER.get('env', {}).get('MCPHUB_SETTING_PATH')
        cfg_dir, cfg_key = os.path.split(cfg or '')
        cmv = vols.get(mounts.get(cfg_dir), {}).get('configMap', {})
        check(cmv.get('name') in cms and cfg_key in (cms[cmv['name']].get('data') or {}),
              f'{where}: {cfg} comes from the ConfigMap', mounts)
        settings_text = cms[cmv['name']]['data'][cfg_key] if cmv.get('name') in cms and cfg_key in (cms[cmv['name']].get('data') or {}) else None
        if settings_text:
            check_settings_json(f'{where}: ConfigMap {cmv["name"]}', settings_text)
            path = os.path.join(TMP, f'k8s-{name}-settings.json')
            with open(path, 'w') as f:
                f.write(settings_text)
        else:
            path = None
        specs[name] = {'daemon': daemon, 'opts': opts, 'env': env, 'refs': refs, 'argv': argv,
                       'settings': path, 'probe': probe, 'mounts': mounts, 'vols': vols,
                       'replicas': spec.get('replicas', 1), 'labels': labels, 'ports': ports, 'port': port}
    masters = [n for n, s in specs.items() if s['daemon'] == 'mcphub-masterd']
    workers = [n for n, s in specs.items() if s['daemon'] == 'mcphub-workerd']
    if not check(len(masters) == 1 and len(workers) == 1, 'kubernetes: a master and a worker Deployment', specs.keys()):
        return
    mst, wrk = specs[masters[0]], specs[workers[0]]
    check(mst['replicas'] == 1, 'kubernetes: one master pod', mst['replicas'])
    check(deps[masters[0]]['spec'].get('strategy', {}).get('type') == 'Recreate',
          'kubernetes: the master is replaced with Recreate (its state volume is ReadWriteOnce)')
    check(wrk['replicas'] == 3, 'kubernetes: three worker pods', wrk['replicas'])
    state = mst['opts'].get('--state-dir') or mst['env'].get('CLUSTER_STATE_DIR')
    pvc = mst['vols'].get(mst['mounts'].get(state), {}).get('persistentVolumeClaim', {}).get('claimName')
    check(state and pvc in pvcs, f'kubernetes: the master\'s --state-dir {state} is on a PersistentVolumeClaim', mst['mounts'])
    # The Service the workers use selects the master pods.
    murl = wrk['env'].get('CLUSTER_MASTER_URL', '')
    m = re.match(r'http://([a-z0-9-]+):(\d+)$', murl)
    svc = svcs.get(m.group(1)) if m else None
    if check(svc, 'kubernetes: CLUSTER_MASTER_URL names a Service', murl):
        sel = svc['spec'].get('selector', {})
        check(sel and all(mst['labels'].get(k) == v for k, v in sel.items()) and
              not all(wrk['labels'].get(k) == v for k, v in sel.items()),
              'kubernetes: the Service selects the master pods only', sel)
        sp = [p for p in svc['spec'].get('ports', []) if str(p.get('port')) == m.group(2)]
        check(sp and str(mst['ports'].get(sp[0].get('targetPort'), sp[0].get('targetPort'))) == mst['port'],
              'kubernetes: the Service port reaches the master\'s port', sp)
    adv = wrk['refs'].get('CLUSTER_ADVERTISE_HOST', {}).get('fieldRef', {}).get('fieldPath')
    check(adv == 'status.podIP', 'kubernetes: workers advertise their pod IP (downward API)', adv)
    nid = wrk['refs'].get('CLUSTER_NODE_ID', {}).get('fieldRef', {}).get('fieldPath')
    check(nid == 'metadata.name', 'kubernetes: workers are named after their pod', nid)
    say(f'deploy/kubernetes: {len(objs)} objects; master 1 pod + PVC + Service, {wrk["replicas"]} workers, '
        f'probes on /health, token from a Secret')
    # Run it: two worker "pods" with the ConfigMap's settings.
    if not (mst['settings'] and wrk['settings']):
        return
    token = 'check-deploy-' + os.urandom(8).hex()
    state_dir = os.path.join(TMP, 'k8s-state')
    image_env = dict(DOCKER.get('env', {}))

    def spec_for(s, is_master, pod):
        mapping = {'/etc/mcphub/mcp_settings.json': s['settings'], state or '/var/lib/mcphub': state_dir,
                   '/var/lib/mcphub': state_dir}
        env = base_env()
        env.update({k: map_paths(v, mapping) for k, v in image_env.items()})
        env.update(s['env'])
        env['CLUSTER_TOKEN'] = token
        env['PORT'] = '0'
        if not is_master:
            env['CLUSTER_MASTER_URL'] = '{MASTER_URL}'
            env['CLUSTER_ADVERTISE_HOST'] = '127.0.0.1'
            env['CLUSTER_NODE_ID'] = pod
        argv = [os.path.join(BUILD, s['daemon'])] + [map_paths(a, mapping) for a in s['argv'][1:]] + \
            ['--host', '127.0.0.1']
        return {'argv': argv, 'env': env, 'probe': s['probe']}
    pods = [f'{workers[0]}-7d9f8-{c}' for c in ('abcde', 'fghij')]
    run_cluster('kubernetes', spec_for(mst, True, 'master'), [spec_for(wrk, False, p) for p in pods],
                token, expect_nodes=pods)


# ---- systemd -------------------------------------------------------------------------------------

def parse_unit(path):
    sections, cur = {}, None
    for line in read(path).splitlines():
        s = line.strip()
        if not s or s.startswith(('#', ';')):
            continue
        if s.startswith('[') and s.endswith(']'):
            cur = sections.setdefault(s[1:-1], {})
            continue
        k, _, v = s.partition('=')
        cur.setdefault(k.strip(), []).append(v.strip())
    return sections


def check_systemd():
    sdir = os.path.join(DEPLOY, 'systemd')
    units = {d: os.path.join(sdir, f'{d}.service') for d in DAEMONS}
    parsed = {}
    for d, path in units.items():
        where = f'systemd {d}.service'
        if not check(os.path.isfile(path), f'{where} exists'):
            continue
        u = parse_unit(path)
        svc = u.get('Service', {})
        one = lambda k: (svc.get(k) or [None])[-1]  # noqa: E731
        argv = shlex.split(one('ExecStart') or '')
        daemon, opts = check_command(where, argv)
        check(daemon == d, f'{where}: starts {d}', argv)
        check(argv and argv[0] == f'{SBINDIR}/{d}', f'{where}: ExecStart is make install\'s {SBINDIR}/{d}', argv[:1])
        check(one('User') and one('User') not in ('root', '0'), f'{where}: a dedicated User=', one('User'))
        for k, v in (('NoNewPrivileges', 'yes'), ('ProtectSystem', 'strict'), ('PrivateTmp', 'yes'),
                     ('Restart', 'on-failure')):
            check(one(k) == v, f'{where}: {k}={v}', one(k))
        check('-/etc/mcphub/cluster.env' in (svc.get('EnvironmentFile') or []),
              f'{where}: EnvironmentFile=-/etc/mcphub/cluster.env', svc.get('EnvironmentFile'))
        envs = {}
        for e in svc.get('Environment', []):
            for k, v in (x.split('=', 1) for x in shlex.split(e)):
                envs[k] = v
        check_env_names(where, envs)
        rw = ' '.join(svc.get('ReadWritePaths', [])).split()
        if d == 'mcphub-masterd':
            sd = one('StateDirectory')
            check(sd, f'{where}: StateDirectory=', sd)
            check(opts.get('--state-dir') == f'%S/{sd}', f'{where}: --state-dir is the StateDirectory (%S/{sd})',
                  opts.get('--state-dir'))
            check(one('ExecReload') == '/bin/kill -HUP $MAINPID', f'{where}: ExecReload sends SIGHUP', one('ExecReload'))
            check(f'%S/{sd}' in rw or f'/var/lib/{sd}' in rw, f'{where}: ReadWritePaths has the state dir', rw)
        else:
            home = envs.get('HOME', '')
            check(home.startswith('%S/') and home[3:] in (svc.get('StateDirectory') or []) and home in rw,
                  f'{where}: the MCP servers\' HOME is its writable StateDirectory', (home, rw))
        parsed[d] = (u, argv, opts, envs)
    say(f'deploy/systemd: {len(parsed)} units, hardening and paths as the daemons need')
    verify_units(units)
    # Run them: ExecStart, Environment= and the EnvironmentFile (the example).
    if len(parsed) != 2:
        return
    env_file, _ = env_file_vars(os.path.join(DEPLOY, 'cluster.env.example'))
    token = 'check-deploy-' + os.urandom(8).hex()
    sdirs = os.path.join(TMP, 'systemd-state')

    def spec_for(d, is_master):
        u, argv, opts, envs = parsed[d]
        mapping = {'/etc/mcphub/mcp_settings.json': os.path.join(ROOT, 'examples/mcp_settings.json'),
                   '%S': sdirs, '%C': sdirs}
        for sd in u['Service'].get('StateDirectory', []):
            os.makedirs(os.path.join(sdirs, sd), exist_ok=True)
        env = base_env()
        env.update(env_file)
        env.update({k: map_paths(v, mapping) for k, v in envs.items()})
        env['CLUSTER_TOKEN'] = token
        env['PORT'] = '0'
        if not is_master:
            env['CLUSTER_MASTER_URL'] = '{MASTER_URL}'
            env['CLUSTER_ADVERTISE_HOST'] = '127.0.0.1'
            env['CLUSTER_NODE_ID'] = 'node-a'
        return {'argv': [os.path.join(BUILD, d)] + [map_paths(a, mapping) for a in argv[1:]] +
                ['--host', '127.0.0.1'], 'env': env, 'probe': '/health'}
    run_cluster('systemd', spec_for('mcphub-masterd', True), [spec_for('mcphub-workerd', False)], token,
                expect_nodes=['node-a'])


def verify_units(units):
    """systemd-analyze verify, with ExecStart pointing at the built daemons
    (make install is not run here) and MANPATH at the man pages installed
    into a scratch DESTDIR, so that Documentation= is checked too.  Any
    message is a failure."""
    sa = shutil.which('systemd-analyze')
    if not sa:
        skip('systemd-analyze not found: units not verified')
        return
    vdir = os.path.join(TMP, 'systemd-verify')
    os.makedirs(vdir)
    r = subprocess.run(['make', '--no-print-directory', '-s', 'install-man', f'DESTDIR={vdir}/root',
                        'PREFIX=/usr/local'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    manpath = os.path.join(vdir, 'root/usr/local/share/man')
    args = [sa, 'verify']
    if r.returncode != 0 or not shutil.which('man'):
        args = [sa, '--man=no', 'verify']
        skip('man or make install-man not available: Documentation= not checked')
    copies = []
    for d, path in units.items():
        if os.path.isfile(path):
            dst = os.path.join(vdir, os.path.basename(path))
            with open(dst, 'w') as f:
                f.write(read(path).replace(f'{SBINDIR}/{d}', os.path.join(BUILD, d)))
            copies.append(dst)
    env = dict(os.environ, MANPATH=manpath, SYSTEMD_LOG_COLOR='0')
    r = subprocess.run(args + copies, capture_output=True, text=True, timeout=60, env=env)
    msgs = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not msgs, 'systemd-analyze verify: no message', msgs)
    say(f'systemd-analyze verify: {len(copies)} units clean (ExecStart on the built daemons, '
        f'Documentation= against the installed man pages)')


# ---- the demo -------------------------------------------------------------------------------------

def check_demo():
    """make demo's script, as a user meets it, on free ports: it prints the
    URLs, they work, Ctrl-C (SIGINT) stops everything it started."""
    script = os.path.join(ROOT, 'examples/demo.sh')
    if not check(os.access(script, os.X_OK), 'examples/demo.sh is executable'):
        return
    settings = os.path.join(ROOT, 'examples/mcp_settings.json')
    doc = check_settings_json('examples/mcp_settings.json', read(settings))
    if doc:
        reps = {n: s.get('replicas', 1) for n, s in doc['mcpServers'].items()}
        check(len(reps) >= 2 and max(reps.values()) >= 2, 'examples/mcp_settings.json: two servers, one with replicas 2', reps)
        check(len(doc.get('groups', [])) == 1, 'examples/mcp_settings.json: one group')
        check(all(s.get('command') == 'mcp-example-server' for s in doc['mcpServers'].values()),
              'examples/mcp_settings.json: only our C example server (no network needed)')
    failed_before = counts['failed']
    d = os.path.join(TMP, 'demo')
    env = {k: v for k, v in os.environ.items() if not k.startswith('CLUSTER_')}
    env.update(MCPHUB_DEMO_PORT='0', MCPHUB_DEMO_WORKER1_PORT='0', MCPHUB_DEMO_WORKER2_PORT='0',
               MCPHUB_DEMO_DIR=d, MCPHUB_DEMO_EVENTS='1', MCPHUB_DEMO_TIMEOUT='30')
    out_path = os.path.join(TMP, 'demo.out')
    procs = Procs()
    ALL_PROCS.append(procs)
    try:
        # SIGINT as the terminal sends it: to the whole group, not ignored.
        p = procs.start([script, BUILD], env, out_path,
                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline, out = time.time() + 45, ''
        while time.time() < deadline and p.poll() is None:
            out = read(out_path)
            if 'Stop     Ctrl-C' in out:
                break
            time.sleep(0.2)
        procs.observe()
        if not check('Stop     Ctrl-C' in out, 'demo: prints its banner once the cluster is ready', out[-1500:]):
            return
        mcp = re.search(r'MCP \(Streamable HTTP\)\s+(http://127\.0\.0\.1:\d+/mcp)\s', out)
        dash = re.search(r'Dashboard\s+(http://\S+/)\s', out)
        tok = re.search(r"Authorization: Bearer ([^']+)'", out)
        cfg = re.search(r'\n    (\{\n.*?\n    \})\n', out, re.S)
        check(mcp and dash and tok, 'demo: prints the MCP URL, the dashboard URL and the token')
        check(f'{d}/master.log' in out, 'demo: says where the logs are')
        try:
            client = json.loads(cfg.group(1)) if cfg else None
            url = client['mcpServers']['mcphub-demo']['url']
        except (ValueError, KeyError, TypeError):
            client, url = None, None
        check(mcp and url == mcp.group(1), 'demo: the client config is JSON with the Streamable HTTP URL',
              cfg.group(1) if cfg else 'none')
        if not (mcp and dash and tok):
            return
        base = mcp.group(1)[:-len('/mcp')]
        st, _, _ = http(dash.group(1))
        check(st == 200, 'demo: the dashboard answers 200', st)
        st, body, _ = http(base + '/api/cluster/status', headers={'Authorization': f'Bearer {tok.group(1)}'})
        try:
            nodes = json.loads(body)['data']['nodes']
        except (ValueError, KeyError, TypeError):
            nodes = {}
        check(st == 200 and nodes.get('online') == 2, 'demo: the cluster API with the printed token: 2 nodes online', body[:300])
        hd_json = {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'}
        st, body, hd = http(mcp.group(1), 'POST', json.dumps({
            'jsonrpc': '2.0', 'id': 1, 'method': 'initialize',
            'params': {'protocolVersion': '2025-06-18', 'capabilities': {},
                       'clientInfo': {'name': 'check-deploy', 'version': '1'}}}).encode(), hd_json)
        check(st == 200 and hd.get('Mcp-Session-Id'), 'demo: MCP initialize on the printed URL', f'{st} {body[:200]}')
        if st == 200 and hd.get('Mcp-Session-Id'):
            h = dict(hd_json, **{'Mcp-Session-Id': hd['Mcp-Session-Id'], 'MCP-Protocol-Version': '2025-06-18'})
            http(mcp.group(1), 'POST', b'{"jsonrpc":"2.0","method":"notifications/initialized"}', h)
            st, body, _ = http(mcp.group(1), 'POST', b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}', h)
            names = set(re.findall(r'"name":"([^"]+)"', body))
            check({'notes-whoami', 'calc-add'} <= names, 'demo: tools/list shows both servers\' tools', sorted(names))
        ports = sorted({int(x) for x in re.findall(r'port (\d+)', out)} | {int(base.rsplit(':', 1)[1])})
        procs.observe()
        started = [pid for pid in procs.alive() if pid != p.pid]
        check(len(started) >= 3 + 3, 'demo: the daemons and the MCP servers run', started)
        os.killpg(p.pid, signal.SIGINT)
        try:
            rc = p.wait(30)
        except subprocess.TimeoutExpired:
            rc = 'still running 30 s after SIGINT'
        out = read(out_path)
        check(rc == 0, 'demo: exits 0 after Ctrl-C', rc)
        left = [pid for pid in started if starttime(pid) is not None and pid in procs.alive()]
        check(not left, 'demo: no process left after Ctrl-C', [(pid, proc_cmdline(pid)) for pid in left])
        check('are gone' in out, 'demo: reports that nothing is left', out[-400:])
        busy = []
        for port in ports:
            with socket.socket() as so:
                so.settimeout(1)
                if so.connect_ex(('127.0.0.1', port)) == 0:
                    busy.append(port)
        check(not busy, 'demo: its ports are free again', busy)
        if counts['failed'] == failed_before:
            say(f'examples/demo.sh: banner, URLs, token and client config work; SIGINT stopped '
                f'{len(started)} processes, none left, ports {ports} free')
    finally:
        procs.kill_all()


# ---- main -------------------------------------------------------------------------------------------

def on_signal(signo, _frame):
    raise KeyboardInterrupt


def main():
    global KEEP_TMP
    signal.signal(signal.SIGTERM, on_signal)
    for b in [os.path.join(BUILD, d) for d in DAEMONS] + [os.path.join(SERVERS_DIR, 'mcp-example-server')]:
        if not os.access(b, os.X_OK):
            say(f'{b} is missing: make all first')
            print('check-deploy: 0 passed, 1 failed, 0 skipped')
            return 1
    t0 = time.time()
    sections = [ground_truth, check_dockerfile]
    if yaml is None:
        skip('PyYAML not available (apt-get install python3-yaml): compose and Kubernetes files not checked')
    else:
        sections += [check_yaml_parses, check_compose, check_kubernetes]
    sections += [check_systemd, check_demo]
    try:
        for section in sections:
            try:
                section()
            except Exception as e:  # a crash is a failure of that section, with its trace
                import traceback
                traceback.print_exc()
                check(False, f'{section.__name__} ran to the end', repr(e))
    except KeyboardInterrupt:
        say('interrupted')
        counts['failed'] += 1
    finally:
        for p in ALL_PROCS:
            p.kill_all()
        if KEEP_TMP or os.environ.get('MCPHUB_DEPLOY_KEEP') == '1':
            say(f'logs and scratch files kept in {TMP}')
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    say(f'took {time.time() - t0:.0f} s')
    print(f'check-deploy: {counts["passed"]} passed, {counts["failed"]} failed, {counts["skipped"]} skipped')
    return 1 if counts['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
