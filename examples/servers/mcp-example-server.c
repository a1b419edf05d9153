/* mcp-example-server: a small MCP server over stdio, in C with jansson.
 *
 * libmcphub-cluster uses it in the demo, the integration tests and the
 * benchmarks. It also shows how little an MCP server needs:
 * newline-delimited JSON-RPC on stdin and stdout, with logs on stderr.
 *
 * There is one thread and one poll() loop on stdin. A call that answers
 * later (the slow tool's steps, or a sampling round trip to the client)
 * becomes a "pending" entry with a deadline, so other requests are still
 * answered while it waits.
 *
 *   mcp-example-server [--name NAME] [--replica ID] [--tool-prefix P]
 *
 * The replica id can also come from MCPHUB_REPLICA_ID; --replica wins. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define SERVER_VERSION "0.1.0"
#define LATEST_VERSION "2025-11-25"
#define MAX_LINE (8u << 20) /* longest message accepted, in bytes */
#define READ_CHUNK 65536u
#define MAX_PENDING 1024 /* slow calls + sampling round trips in flight */
#define COUNT(a) (sizeof(a) / sizeof *(a))

static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
static const char *const levels[] = {"debug", "info",     "notice", "warning",
                                     "error", "critical", "alert",  "emergency"};
static const char *const greet_names[] = {"Alice", "Bob", "Carol", "Dave", "Eve", "Erin"};

/* A call that answers later. The slow tool's entries (sample_id 0) step
 * on a timer; the sample tool's wait for the client's answer to our
 * request number sample_id. */
typedef struct pending {
    struct pending *next;
    json_t *id;    /* the client's request id (own reference) */
    json_t *token; /* progress token, or NULL */
    json_int_t sample_id;
    uint64_t start_ms, ms;
    int step, steps;
} pending;

static struct {
    const char *name, *replica, *prefix;
    int client_sampling; /* the client declared "sampling" in initialize */
    int extra_tool;      /* toggle_extra has added the tool "extra" */
    int min_level;       /* index into levels[], from logging/setLevel */
    json_int_t next_request_id;
    pending *pending;
    int npending;
} S = {"example", "local", "", 0, 0, 0, 1, NULL, 0};

/* What a request or tool handler sees: args are the tool's arguments, or
 * the request's params. */
typedef struct call {
    json_t *id, *args, *meta;
} call;

typedef json_t *handler(const call *c);

/* How to answer when a handler returns NULL. The dispatcher presets
 * "Internal error", which is right when json_pack() ran out of memory;
 * rpc_error() sets a real error, later() means "no answer now". */
static struct {
    int code;
    const char *message;
    json_t *data;
} E;

static json_t *rpc_error(int code, const char *message, json_t *data)
{
    E.code = code, E.message = message, E.data = data;
    return NULL;
}

static json_t *later(void)
{
    E.code = 0;
    return NULL;
}

static void note(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "mcp-example-server[%s/%s]: ", S.name, S.replica);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Parses one of our JSON constants, written with single quotes so the C
 * strings stay readable (none contains an apostrophe). */
static json_t *jq(const char *text)
{
    char buf[1024];
    size_t i;

    for (i = 0; text[i] && i < sizeof buf - 1; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    buf[i] = '\0';
    return json_loads(buf, 0, NULL);
}

/* ---- output: one compact JSON message per line, flushed at once ---- */

static void send_msg(json_t *msg) /* steals msg */
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

    json_decref(msg);
    if (!s) {
        note("out of memory: message dropped");
        return;
    }
    if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
        note("stdout closed: %s", strerror(errno));
        exit(0); /* the client has gone away */
    }
    free(s);
}

static void reply_error(json_t *id, int code, const char *message, json_t *data)
{
    send_msg(json_pack("{s:s, s:O?, s:{s:i, s:s, s:o*}}", "jsonrpc", "2.0", "id", id, "error",
                       "code", code, "message", message, "data", data));
}

static void reply(json_t *id, json_t *result) /* steals result */
{
    if (result)
        send_msg(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
    else
        reply_error(id, -32603, "Internal error", NULL);
}

static void notify(const char *method, json_t *params) /* steals params */
{
    send_msg(json_pack("{s:s, s:s, s:o*}", "jsonrpc", "2.0", "method", method, "params", params));
}

/* ---- tool results: one text block, maybe structuredContent ---- */

static json_t *result(json_t *text, json_t *structured, int is_error) /* steals both */
{
    return json_pack("{s:[{s:s, s:o}], s:o*, s:b}", "content", "type", "text", "text", text,
                     "structuredContent", structured, "isError", is_error);
}

static json_t *text_result(const char *text, int is_error)
{
    return result(json_string(text), NULL, is_error);
}

/* Bad arguments are tool errors (the model can fix them), naming the argument. */
static json_t *bad_arg(const char *name, const char *want)
{
    return result(json_sprintf("Invalid argument '%s': expected %s", name, want), NULL, 1);
}

/* An optional integer argument in [lo, hi]; returns 0 if it is fine. */
static int int_arg(const call *c, const char *name, json_int_t def, json_int_t lo, json_int_t hi,
                   json_int_t *out)
{
    json_t *v = json_object_get(c->args, name);

    *out = v ? json_integer_value(v) : def;
    return v && !(json_is_integer(v) && *out >= lo && *out <= hi) ? -1 : 0;
}

/* ---- pending calls ---- */

static pending *pending_add(json_t *id)
{
    pending *p;

    if (S.npending >= MAX_PENDING || !(p = calloc(1, sizeof *p)))
        return NULL;
    p->id = json_incref(id);
    p->next = S.pending;
    S.pending = p;
    S.npending++;
    return p;
}

static void pending_remove(pending **link)
{
    pending *p = *link;

    *link = p->next;
    json_decref(p->id);
    json_decref(p->token);
    free(p);
    S.npending--;
}

static uint64_t next_step_ms(const pending *p)
{
    return p->start_ms + p->ms * (uint64_t)(p->step + 1) / (uint64_t)p->steps;
}

/* ---- tools: each returns its result, or NULL through later() ---- */

/* echo and fail: the text back, as a result or as a tool error. */
static json_t *tool_echo(const call *c)
{
    json_t *text = json_object_get(c->args, "text");

    return json_is_string(text) ? result(json_incref(text), NULL, 0) : bad_arg("text", "a string");
}

static json_t *tool_fail(const call *c)
{
    json_t *text = json_object_get(c->args, "message");

    return json_is_string(text) ? result(json_incref(text), NULL, 1)
                                : bad_arg("message", "a string");
}

static json_t *tool_add(const call *c)
{
    json_t *a = json_object_get(c->args, "a"), *b = json_object_get(c->args, "b"), *sum, *out;
    long long x = json_integer_value(a), y = json_integer_value(b);
    char *text;

    if (!json_is_number(a) || !json_is_number(b))
        return bad_arg(json_is_number(a) ? "b" : "a", "a number");
    if (json_is_integer(a) && json_is_integer(b) && !(y > 0 && x > LLONG_MAX - y) &&
        !(y < 0 && x < LLONG_MIN - y))
        sum = json_integer(x + y);
    else /* NULL if the sum is infinite */
        sum = json_real(json_number_value(a) + json_number_value(b));
    if (!sum)
        return text_result("The sum is out of range", 1);
    text = json_dumps(sum, JSON_ENCODE_ANY);
    out = result(text ? json_string(text) : NULL, json_pack("{s:o}", "sum", sum), 0);
    free(text);
    return out;
}

static json_t *tool_whoami(const call *c)
{
    (void)c;
    return result(json_sprintf("replica %s (pid %ld) of server %s", S.replica, (long)getpid(),
                               S.name),
                  json_pack("{s:s, s:I, s:s}", "replica", S.replica, "pid", (json_int_t)getpid(),
                            "server", S.name), 0);
}

static json_t *tool_slow(const call *c)
{
    json_t *token = json_object_get(c->meta, "progressToken");
    json_int_t ms, steps;
    pending *p;

    if (int_arg(c, "ms", 1000, 0, 600000, &ms))
        return bad_arg("ms", "an integer from 0 to 600000");
    if (int_arg(c, "steps", 5, 1, 1000, &steps))
        return bad_arg("steps", "an integer from 1 to 1000");
    if (!(p = pending_add(c->id)))
        return text_result("Too many calls in flight", 1);
    if (json_is_string(token) || json_is_integer(token))
        p->token = json_incref(token);
    p->start_ms = now_ms();
    p->ms = (uint64_t)ms;
    p->steps = (int)steps;
    return later();
}

/* The next step of a slow call is due: report progress, maybe finish. */
static void slow_step(pending *p)
{
    p->step++;
    if (p->token)
        notify("notifications/progress",
               json_pack("{s:O, s:i, s:i, s:o}", "progressToken", p->token, "progress", p->step,
                         "total", p->steps, "message",
                         json_sprintf("step %d of %d", p->step, p->steps)));
    if (p->step == p->steps)
        reply(p->id,
              result(json_sprintf("slept %d ms in %d steps", (int)p->ms, p->steps), NULL, 0));
}

static json_t *tool_sample(const call *c)
{
    json_t *prompt = json_object_get(c->args, "prompt"), *req;
    pending *p;

    if (!json_is_string(prompt))
        return bad_arg("prompt", "a string");
    if (!S.client_sampling)
        return text_result("client does not support sampling", 1);
    req = json_pack("{s:s, s:I, s:s, s:{s:[{s:s, s:{s:s, s:O}}], s:i}}", "jsonrpc", "2.0", "id",
                    S.next_request_id, "method", "sampling/createMessage", "params", "messages",
                    "role", "user", "content", "type", "text", "text", prompt, "maxTokens", 256);
    if (!req || !(p = pending_add(c->id))) {
        json_decref(req);
        return text_result("Too many calls in flight", 1);
    }
    p->sample_id = S.next_request_id++;
    send_msg(req);
    return later();
}

/* The client answered our sampling request: make it the tool's result. */
static json_t *sample_result(json_t *msg)
{
    json_t *res = json_object_get(msg, "result"), *content, *text = NULL;
    json_t *why = json_object_get(json_object_get(msg, "error"), "message");
    size_t i;

    if (!res)
        return result(json_sprintf("sampling failed: %s",
                                   json_is_string(why) ? json_string_value(why) : "error"),
                      NULL, 1);
    /* content is one block, or (2025-11-25) an array of blocks */
    content = json_object_get(res, "content");
    if (json_is_object(content))
        text = json_object_get(content, "text");
    for (i = 0; i < json_array_size(content) && !json_is_string(text); i++) /* 0 if no array */
        text = json_object_get(json_array_get(content, i), "text");
    return json_is_string(text) ? result(json_incref(text), NULL, 0)
                                : text_result("sampling returned no text", 1);
}

static int level_index(json_t *level)
{
    int i;

    for (i = 0; json_is_string(level) && i < (int)COUNT(levels); i++)
        if (strcmp(json_string_value(level), levels[i]) == 0)
            return i;
    return -1;
}

static json_t *tool_log(const call *c)
{
    json_t *level = json_object_get(c->args, "level"), *msg = json_object_get(c->args, "message");
    int lv = level_index(level);

    if (lv < 0)
        return bad_arg("level", "a syslog level (debug .. emergency)");
    if (!json_is_string(msg))
        return bad_arg("message", "a string");
    if (lv >= S.min_level)
        notify("notifications/message",
               json_pack("{s:O, s:s, s:O}", "level", level, "logger", S.name, "data", msg));
    return text_result("logged", 0);
}

static json_t *tool_toggle_extra(const call *c)
{
    (void)c;
    S.extra_tool = !S.extra_tool;
    notify("notifications/tools/list_changed", NULL);
    return text_result(S.extra_tool ? "extra tool added" : "extra tool removed", 0);
}

static json_t *tool_extra(const call *c)
{
    (void)c;
    return text_result("extra tool called", 0);
}

static json_t *tool_exit(const call *c)
{
    json_int_t code;

    if (int_arg(c, "code", 1, 0, 255, &code))
        return bad_arg("code", "an integer from 0 to 255");
    note("exit %d on request", (int)code);
    _exit((int)code); /* no cleanup and no answer: this is for crash tests */
}

#define RO "{'readOnlyHint':true,'idempotentHint':true,'openWorldHint':false}"
#define NO_ARGS "{'type':'object','properties':{}}"
#define ONE_STRING(name) \
    "{'type':'object','properties':{'" name "':{'type':'string'}},'required':['" name "']}"

static const struct tool {
    const char *name, *description, *input, *output, *annotations;
    handler *fn;
} tools[] = {
    {"echo", "Returns the text unchanged.", ONE_STRING("text"), NULL, RO, tool_echo},
    {"add", "Adds two numbers.",
     "{'type':'object','properties':{'a':{'type':'number'},'b':{'type':'number'}},"
     "'required':['a','b']}",
     "{'type':'object','properties':{'sum':{'type':'number'}},'required':['sum']}", RO, tool_add},
    {"whoami", "Tells which replica, process and server answered.", NO_ARGS,
     "{'type':'object','properties':{'replica':{'type':'string'},'pid':{'type':'integer'},"
     "'server':{'type':'string'}},'required':['replica','pid','server']}", RO, tool_whoami},
    {"slow", "Waits ms milliseconds in steps, with progress notifications if asked for.",
     "{'type':'object','properties':{'ms':{'type':'integer','minimum':0,'maximum':600000,"
     "'default':1000},'steps':{'type':'integer','minimum':1,'maximum':1000,'default':5}}}",
     NULL, "{'readOnlyHint':true,'openWorldHint':false}", tool_slow},
    {"sample", "Asks the client's model to answer the prompt (sampling).", ONE_STRING("prompt"),
     NULL, "{'readOnlyHint':true,'openWorldHint':true}", tool_sample},
    {"fail", "Returns a tool error with the message.", ONE_STRING("message"), NULL, RO, tool_fail},
    {"log", "Sends a log notification.",
     "{'type':'object','properties':{'level':{'type':'string','enum':['debug','info','notice',"
     "'warning','error','critical','alert','emergency']},'message':{'type':'string'}},"
     "'required':['level','message']}",
     NULL, "{'readOnlyHint':true,'openWorldHint':false}", tool_log},
    {"toggle_extra", "Adds or removes the tool 'extra' and says that the list changed.", NO_ARGS,
     NULL, "{'readOnlyHint':false,'destructiveHint':false,'idempotentHint':false}",
     tool_toggle_extra},
    {"exit", "Ends the server process at once with the exit code (crash tests).",
     "{'type':'object','properties':{'code':{'type':'integer','minimum':0,'maximum':255}}}", NULL,
     "{'readOnlyHint':false,'destructiveHint':true}", tool_exit},
    {"extra", "Exists only after toggle_extra.", NO_ARGS, NULL, RO, tool_extra},
};

static int tool_listed(const struct tool *t)
{
    return t->fn != tool_extra || S.extra_tool;
}

/* A listed tool by its (prefixed) name, or NULL. */
static const struct tool *tool_find(const char *name)
{
    size_t i, n = strlen(S.prefix);

    for (i = 0; name && strncmp(name, S.prefix, n) == 0 && i < COUNT(tools); i++)
        if (strcmp(name + n, tools[i].name) == 0 && tool_listed(&tools[i]))
            return &tools[i];
    return NULL;
}

/* ---- requests: each returns its result, or NULL (see E) ---- */

static json_t *m_initialize(const call *c)
{
    const char *want = json_string_value(json_object_get(c->args, "protocolVersion"));
    const char *version = LATEST_VERSION;
    json_t *caps;
    size_t i;

    for (i = 0; want && i < COUNT(versions); i++)
        if (strcmp(want, versions[i]) == 0)
            version = versions[i];
    caps = json_object_get(c->args, "capabilities");
    S.client_sampling = json_object_get(caps, "sampling") != NULL;
    return json_pack("{s:s, s:{s:{s:b}, s:{}, s:{}, s:{}, s:{}}, s:{s:s, s:s}, s:s}",
                     "protocolVersion", version, "capabilities", "tools", "listChanged", 1,
                     "prompts", "resources", "logging", "completions", "serverInfo", "name", S.name,
                     "version", SERVER_VERSION, "instructions",
                     "An example server: try the tools echo, add and whoami.");
}

static json_t *m_tools_list(const call *c)
{
    json_t *list = json_array(), *entry;
    size_t i;

    (void)c;
    for (i = 0; list && i < COUNT(tools); i++) {
        const struct tool *t = &tools[i];

        if (!tool_listed(t))
            continue;
        entry = json_pack("{s:o, s:s, s:o, s:o*, s:o}",
                          "name", json_sprintf("%s%s", S.prefix, t->name),
                          "description", t->description, "inputSchema", jq(t->input),
                          "outputSchema", t->output ? jq(t->output) : NULL,
                          "annotations", jq(t->annotations));
        if (json_array_append_new(list, entry) != 0)
            json_decref(list), list = NULL;
    }
    return list ? json_pack("{s:o}", "tools", list) : NULL;
}

static json_t *m_tools_call(const call *c)
{
    json_t *name = json_object_get(c->args, "name"), *args = json_object_get(c->args, "arguments");
    const struct tool *t = tool_find(json_string_value(name));
    call tc = {c->id, args, c->meta};
    static char msg[256]; /* E.message must outlive this call */

    if (!t) { /* a protocol error: the client asked for something never listed */
        snprintf(msg, sizeof msg, "Unknown tool: %s",
                 json_is_string(name) ? json_string_value(name) : "");
        return rpc_error(-32602, msg, NULL);
    }
    return args && !json_is_object(args) ? bad_arg("arguments", "an object") : t->fn(&tc);
}

static json_t *m_prompts_get(const call *c)
{
    const char *prompt = json_string_value(json_object_get(c->args, "name"));
    json_t *args = json_object_get(c->args, "arguments");
    const char *who = json_string_value(json_object_get(args, "name"));

    if (!prompt || strcmp(prompt, "greet") != 0)
        return rpc_error(-32602, "Unknown prompt", NULL);
    if (!who)
        return rpc_error(-32602, "Missing required argument: name", NULL);
    return json_pack("{s:s, s:[{s:s, s:{s:s, s:o}}]}", "description", "A greeting", "messages",
                     "role", "user", "content", "type", "text", "text",
                     json_sprintf("Please write a short, friendly greeting for %s.", who));
}

/* Percent-decodes a URI component into a JSON string (NULL if the result
 * is not UTF-8). */
static json_t *uri_decode(const char *s)
{
    size_t i, o = 0, n = strlen(s);
    char *buf = malloc(n + 1);
    json_t *out;

    for (i = 0; buf && i < n; i++) {
        if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};

            buf[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            buf[o++] = s[i];
        }
    }
    out = buf ? json_stringn(buf, o) : NULL;
    free(buf);
    return out;
}

static json_t *m_resources_read(const call *c)
{
    json_t *uri = json_object_get(c->args, "uri"), *text;
    const char *u = json_string_value(uri);

    if (!u)
        return rpc_error(-32602, "Missing uri", NULL);
    if (strcmp(u, "example://info") == 0)
        text = json_sprintf("server %s, replica %s, pid %ld", S.name, S.replica, (long)getpid());
    else if (strncmp(u, "example://echo/", 15) != 0)
        return rpc_error(-32002, "Resource not found", json_pack("{s:O}", "uri", uri));
    else if (!(text = uri_decode(u + 15)))
        return rpc_error(-32602, "The decoded text is not UTF-8", NULL);
    return json_pack("{s:[{s:O, s:s, s:o}]}", "contents", "uri", uri, "mimeType", "text/plain",
                     "text", text);
}

/* Completes the greet prompt's "name" from a fixed list, by prefix. */
static json_t *m_complete(const call *c)
{
    json_t *ref = json_object_get(c->args, "ref"), *arg = json_object_get(c->args, "argument");
    const char *type = json_string_value(json_object_get(ref, "type"));
    const char *prompt = json_string_value(json_object_get(ref, "name"));
    const char *argname = json_string_value(json_object_get(arg, "name"));
    const char *value = json_string_value(json_object_get(arg, "value"));
    json_t *values;
    size_t i;

    if (!type || !argname || !value)
        return rpc_error(-32602, "Missing ref or argument", NULL);
    values = json_array();
    for (i = 0; values && i < COUNT(greet_names); i++)
        if (strcmp(type, "ref/prompt") == 0 && prompt && strcmp(prompt, "greet") == 0 &&
            strcmp(argname, "name") == 0 && strncasecmp(greet_names[i], value, strlen(value)) == 0)
            json_array_append_new(values, json_string(greet_names[i]));
    return json_pack("{s:{s:o, s:I, s:b}}", "completion", "values", values, "total",
                     (json_int_t)json_array_size(values), "hasMore", 0);
}

static json_t *m_set_level(const call *c)
{
    int lv = level_index(json_object_get(c->args, "level"));

    if (lv < 0)
        return rpc_error(-32602, "Invalid log level", NULL);
    S.min_level = lv;
    return json_object();
}

/* A method has a handler, or a constant result (single-quoted JSON). */
static const struct {
    const char *name;
    handler *fn;
    const char *constant;
} methods[] = {
    {"initialize", m_initialize, NULL},
    {"ping", NULL, "{}"},
    {"tools/list", m_tools_list, NULL},
    {"tools/call", m_tools_call, NULL},
    {"prompts/list", NULL,
     "{'prompts':[{'name':'greet','title':'Greeting','description':'Asks the model to greet "
     "someone.','arguments':[{'name':'name','description':'Who to greet','required':true}]}]}"},
    {"prompts/get", m_prompts_get, NULL},
    {"resources/list", NULL,
     "{'resources':[{'uri':'example://info','name':'info','mimeType':'text/plain',"
     "'description':'Which server and replica this is.'}]}"},
    {"resources/templates/list", NULL,
     "{'resourceTemplates':[{'uriTemplate':'example://echo/{text}','name':'echo',"
     "'mimeType':'text/plain','description':'The text of the URI, percent-decoded.'}]}"},
    {"resources/read", m_resources_read, NULL},
    {"completion/complete", m_complete, NULL},
    {"logging/setLevel", m_set_level, NULL},
};

/* ---- dispatch ---- */

/* notifications/cancelled: forget the call and never answer it. */
static void on_cancelled(json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    pending **link;

    for (link = &S.pending; *link; link = &(*link)->next)
        if (json_equal((*link)->id, rid)) {
            if ((*link)->sample_id) /* the client may stop sampling, too */
                notify("notifications/cancelled", json_pack("{s:I, s:s}", "requestId",
                       (*link)->sample_id, "reason", "tool call cancelled"));
            pending_remove(link);
            return;
        }
}

/* A response from the client to one of our requests (sampling). */
static void on_response(json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    json_int_t n = json_is_integer(id) ? json_integer_value(id) : 0; /* our ids start at 1 */
    pending **link;

    for (link = &S.pending; *link; link = &(*link)->next)
        if (n && (*link)->sample_id == n) {
            reply((*link)->id, sample_result(msg));
            pending_remove(link);
            return;
        }
    note("ignoring a response to an unknown request");
}

static void on_request(json_t *id, const char *method, json_t *params)
{
    call c = {id, params, json_object_get(params, "_meta")};
    json_t *res = NULL;
    size_t i;

    E.code = -32603, E.message = "Internal error", E.data = NULL;
    for (i = 0; i < COUNT(methods) && strcmp(method, methods[i].name) != 0; i++)
        ;
    if (i == COUNT(methods))
        rpc_error(-32601, "Method not found", NULL);
    else if (params && !json_is_object(params))
        rpc_error(-32602, "Invalid params: expected an object", NULL);
    else
        res = methods[i].fn ? methods[i].fn(&c) : jq(methods[i].constant);
    if (res)
        reply(id, res);
    else if (E.code)
        reply_error(id, E.code, E.message, E.data);
}

static void on_message(json_t *msg)
{
    json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));
    int good_id = json_is_string(id) || json_is_integer(id);

    if (!json_is_object(msg))
        reply_error(NULL, -32600,
                    json_is_array(msg) ? "Batches are not supported" : "Invalid Request", NULL);
    else if (!method && id && (json_object_get(msg, "result") || json_object_get(msg, "error")))
        on_response(msg);
    else if (method && !id) { /* a notification: only cancellation needs work */
        if (strcmp(method, "notifications/cancelled") == 0)
            on_cancelled(params);
    } else if (method && good_id)
        on_request(id, method, params);
    else
        reply_error(good_id ? id : NULL, -32600, "Invalid Request", NULL);
}

static void on_line(const char *line, size_t len)
{
    json_error_t err;
    json_t *msg;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return;
    if (!(msg = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err))) {
        note("parse error: %s", err.text);
        reply_error(NULL, -32700, "Parse error", NULL);
        return;
    }
    on_message(msg);
    json_decref(msg);
}

/* ---- the loop ---- */

static struct {
    char *buf;
    size_t len, cap;
    int skipping; /* dropping the rest of a line that was too long */
} in;

/* Reads what stdin has and handles each complete line. Returns 1, or 0 at
 * EOF, or -1 on error. */
static int read_input(void)
{
    size_t start = 0, scanned = in.len;
    ssize_t n;
    char *nl;

    if (in.cap - in.len < READ_CHUNK) { /* in.len <= MAX_LINE, so cap stays <= 2 * MAX_LINE */
        size_t cap = in.cap ? in.cap * 2 : 2 * READ_CHUNK;
        char *buf = realloc(in.buf, cap);

        if (!buf)
            return -1;
        in.buf = buf, in.cap = cap;
    }
    if ((n = read(STDIN_FILENO, in.buf + in.len, READ_CHUNK)) < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    if (n == 0) {
        if (in.len > 0 && !in.skipping) /* a last line without its newline */
            on_line(in.buf, in.len);
        return 0;
    }
    in.len += (size_t)n;
    while ((nl = memchr(in.buf + scanned, '\n', in.len - scanned)) != NULL) {
        size_t end = (size_t)(nl - in.buf);

        if (!in.skipping)
            on_line(in.buf + start, end - start);
        in.skipping = 0;
        start = scanned = end + 1;
    }
    if (!in.skipping && in.len - start > MAX_LINE) {
        reply_error(NULL, -32700, "Parse error: message longer than 8 MiB", NULL);
        in.skipping = 1;
    }
    if (in.skipping)
        start = in.len;
    memmove(in.buf, in.buf + start, in.len - start);
    in.len -= start;
    return 1;
}

/* Milliseconds until the next slow step is due, or -1 if none waits. */
static int poll_timeout(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    pending *p;

    for (p = S.pending; p; p = p->next)
        if (!p->sample_id && next_step_ms(p) < next)
            next = next_step_ms(p);
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static void run_timers(uint64_t now)
{
    pending **link = &S.pending;

    while (*link) {
        pending *p = *link;

        if (p->sample_id || next_step_ms(p) > now)
            link = &p->next;
        else if (slow_step(p), p->step == p->steps)
            pending_remove(link);
    }
}

/* Every message is flushed as it is written, so there is nothing to save:
 * _exit() is async-signal-safe and the simplest correct handler. */
static void on_sigterm(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    const char *env = getenv("MCPHUB_REPLICA_ID");
    int i, r = 0;

    if (env && *env)
        S.replica = env;
    for (i = 1; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--name") == 0 ? &S.name
                           : strcmp(argv[i], "--replica") == 0 ? &S.replica
                           : strcmp(argv[i], "--tool-prefix") == 0 ? &S.prefix : NULL;

        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "usage: %s [--name NAME] [--replica ID] [--tool-prefix P]\n", argv[0]);
            return 2;
        }
        *dst = argv[++i];
    }
    signal(SIGTERM, on_sigterm);
    signal(SIGINT, on_sigterm);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a write error */
    note("ready, pid %ld", (long)getpid());
    for (;;) {
        struct pollfd fd = {STDIN_FILENO, POLLIN, 0};

        if (poll(&fd, 1, poll_timeout(now_ms())) < 0 && errno != EINTR) {
            note("poll: %s", strerror(errno));
            r = -1;
            break;
        }
        if (fd.revents && (r = read_input()) <= 0)
            break;
        run_timers(now_ms());
    }
    if (r < 0)
        note("stopping on error: %s", errno ? strerror(errno) : "out of memory");
    while (S.pending)
        pending_remove(&S.pending);
    free(in.buf);
    return r < 0;
}
