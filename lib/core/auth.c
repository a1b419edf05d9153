/* Client authentication decisions: bearer keys, the /api rule and MCPHub's
 * refusal responses; see auth.h. */
#include <string.h>

#include "mcphub/auth.h"

/* ---- tokens ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int ascii_case_equal(const char *a, const char *b)
{
    while (*a != '\0' && lower(*a) == lower(*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

MCPHUB_API const char *mcphub_auth_token(const char *header_value, int custom_header, size_t *len)
{
    const char *p = header_value, *end;
    static const char scheme[] = "bearer";
    size_t i;

    if (len != NULL)
        *len = 0;
    if (p == NULL)
        return NULL;
    while (is_space(*p))
        p++;
    for (i = 0; i < sizeof scheme - 1 && lower(p[i]) == scheme[i]; i++)
        ;
    if (i == sizeof scheme - 1 && (is_space(p[i]) || p[i] == '\0')) {
        p += i;
        while (is_space(*p))
            p++;
    } else if (!custom_header) {
        return NULL; /* another scheme (Basic, ...) on Authorization */
    }
    end = p + strlen(p);
    while (end > p && is_space(end[-1]))
        end--;
    if (end == p)
        return NULL;
    if (len != NULL)
        *len = (size_t)(end - p);
    return p;
}

/* Copy the token out of the header so mcphub_secret_equal gets a C string.
 * 0 when there is none; -1 when it is too long to be any key's. */
static int token_copy(const char *header_value, int custom_header, char *buf, size_t cap)
{
    size_t n;
    const char *t = mcphub_auth_token(header_value, custom_header, &n);

    if (t == NULL)
        return 0;
    if (n >= cap)
        return -1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return 1;
}

/* The first enabled key whose token equals tok.  Every key is compared, so
 * the time does not depend on which one matched. */
static const mcphub_bearer_key *find_key(const mcphub_config *cfg, const char *tok)
{
    const mcphub_bearer_key *found = NULL;
    size_t i, n = mcphub_config_key_count(cfg);

    for (i = 0; i < n; i++) {
        const mcphub_bearer_key *k = mcphub_config_key_at(cfg, i);
        int eq = mcphub_secret_equal(tok, k->token);

        if (eq && k->enabled && found == NULL)
            found = k;
    }
    return found;
}

/* ---- scope ---- */

static int listed(const char *const *list, size_t n, const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int group_listed(const mcphub_bearer_key *k, const mcphub_auth_route *r)
{
    return listed(k->allowed_groups, k->allowed_groups_len, r->group_name) ||
           listed(k->allowed_groups, k->allowed_groups_len, r->group_id);
}

/* Every server of the group allowed (GHSA-454m-4vm6-842f: one allowed
 * server must not open the others).  An empty group opens nothing. */
static int group_contained(const mcphub_bearer_key *k, const mcphub_auth_route *r)
{
    size_t i;

    if (r->group_servers_len == 0 || r->group_servers == NULL)
        return 0;
    for (i = 0; i < r->group_servers_len; i++)
        if (!listed(k->allowed_servers, k->allowed_servers_len, r->group_servers[i]))
            return 0;
    return 1;
}

static int key_allows(const mcphub_bearer_key *k, const mcphub_auth_route *r)
{
    int group = r->group_id != NULL || r->group_name != NULL;

    if (k->access == MCPHUB_KEY_ACCESS_ALL)
        return 1;
    if (r->global || (!group && r->server == NULL))
        return 0;
    switch (k->access) {
    case MCPHUB_KEY_ACCESS_GROUPS:
        return group && group_listed(k, r);
    case MCPHUB_KEY_ACCESS_SERVERS:
        return group ? group_contained(k, r)
                     : listed(k->allowed_servers, k->allowed_servers_len, r->server);
    case MCPHUB_KEY_ACCESS_CUSTOM:
        return group ? group_listed(k, r) || group_contained(k, r)
                     : listed(k->allowed_servers, k->allowed_servers_len, r->server);
    default:
        return 0;
    }
}

/* ---- decisions ---- */

MCPHUB_API mcphub_auth_result mcphub_auth_check_mcp(const mcphub_config *cfg,
                                                    const char *header_value,
                                                    const mcphub_auth_route *route,
                                                    const mcphub_bearer_key **key_out)
{
    const mcphub_routing_settings *rs;
    const mcphub_bearer_key *k = NULL;
    char tok[MCPHUB_AUTH_MAX_TOKEN + 1];
    int custom, have;

    if (key_out != NULL)
        *key_out = NULL;
    if (cfg == NULL || route == NULL)
        return MCPHUB_AUTH_INVALID;
    rs = mcphub_config_routing(cfg);
    custom = rs->bearer_auth_header_name != NULL &&
             !ascii_case_equal(rs->bearer_auth_header_name, "Authorization");
    have = token_copy(header_value, custom, tok, sizeof tok);
    if (have > 0)
        k = find_key(cfg, tok);
    if (k != NULL && !key_allows(k, route)) {
        /* Known but out of scope: with auth off it is just not attributed. */
        if (!rs->enable_bearer_auth)
            return MCPHUB_AUTH_OK;
        return MCPHUB_AUTH_FORBIDDEN;
    }
    if (k != NULL) {
        if (key_out != NULL)
            *key_out = k;
        return MCPHUB_AUTH_OK;
    }
    if (!rs->enable_bearer_auth)
        return MCPHUB_AUTH_OK;
    return have == 0 ? MCPHUB_AUTH_MISSING : MCPHUB_AUTH_INVALID;
}

MCPHUB_API mcphub_auth_result mcphub_auth_check_api(const mcphub_config *cfg,
                                                    const char *header_value)
{
    const mcphub_bearer_key *k = NULL;
    const char *cluster_token;
    char tok[MCPHUB_AUTH_MAX_TOKEN + 1];
    int have, is_cluster;

    if (cfg == NULL)
        return MCPHUB_AUTH_INVALID;
    if (mcphub_config_routing(cfg)->skip_auth)
        return MCPHUB_AUTH_OK;
    cluster_token = mcphub_config_cluster(cfg)->token;
    if (cluster_token == NULL)
        cluster_token = "";
    /* Nothing to check against: open, as MCPHub's dashboard is before its
     * first key.  Any key, even a disabled one, closes it. */
    if (mcphub_config_key_count(cfg) == 0 && cluster_token[0] == '\0')
        return MCPHUB_AUTH_OK;
    have = token_copy(header_value, 0, tok, sizeof tok);
    if (have == 0)
        return MCPHUB_AUTH_MISSING;
    if (have < 0)
        return MCPHUB_AUTH_INVALID;
    k = find_key(cfg, tok);
    /* Compared even when a key matched, so both checks always run. */
    is_cluster = cluster_token[0] != '\0' && mcphub_secret_equal(tok, cluster_token);
    if (is_cluster || (k != NULL && k->access == MCPHUB_KEY_ACCESS_ALL))
        return MCPHUB_AUTH_OK;
    return k != NULL ? MCPHUB_AUTH_FORBIDDEN : MCPHUB_AUTH_INVALID;
}

/* ---- responses ---- */

/* Appends what fits and counts everything, so a first pass with cap 0
 * measures and a second one writes. */
typedef struct sink {
    char *buf;
    size_t cap;
    size_t len;
} sink;

static void put(sink *s, const char *text, size_t n)
{
    if (s->buf != NULL && s->len + n < s->cap)
        memcpy(s->buf + s->len, text, n);
    s->len += n;
}

static void put_str(sink *s, const char *text)
{
    put(s, text, strlen(text));
}

/* Backslash and quote escaped: valid inside a JSON string and inside an
 * HTTP quoted-string alike (the URL has no control characters). */
static void put_quoted(sink *s, const char *text)
{
    for (; *text != '\0'; text++) {
        if (*text == '\\' || *text == '"')
            put(s, "\\", 1);
        put(s, text, 1);
    }
}

static void render(sink *body, sink *www, const char *error, const char *desc, const char *url)
{
    put_str(body, "{\"error\":\"");
    put_str(body, error);
    put_str(body, "\",\"error_description\":\"");
    put_str(body, desc);
    put_str(body, "\"");
    put_str(www, "Bearer error=\"");
    put_str(www, error);
    put_str(www, "\", error_description=\"");
    put_str(www, desc);
    put_str(www, "\"");
    if (url != NULL) {
        put_str(body, ",\"resource_metadata\":\"");
        put_quoted(body, url);
        put_str(body, "\"");
        put_str(www, ", resource_metadata=\"");
        put_quoted(www, url);
        put_str(www, "\"");
    }
    put_str(body, "}");
}

MCPHUB_API int mcphub_auth_response(mcphub_auth_result r, const char *resource_metadata_url,
                                    unsigned *status, char *body, size_t body_cap,
                                    char *www_auth, size_t www_cap)
{
    const char *error = "invalid_token", *desc;
    unsigned code = 401;
    sink b = {NULL, 0, 0}, w = {NULL, 0, 0};
    const char *p;

    if (status == NULL || body == NULL || www_auth == NULL)
        return MCPHUB_E_INVAL;
    switch (r) {
    case MCPHUB_AUTH_MISSING:
        desc = "No authorization provided";
        break;
    case MCPHUB_AUTH_INVALID:
        desc = "Invalid bearer token";
        break;
    case MCPHUB_AUTH_FORBIDDEN:
        /* RFC 6750 3.1: a valid token without the rights is 403
         * insufficient_scope. */
        code = 403;
        error = "insufficient_scope";
        desc = "The bearer key does not allow this route";
        break;
    default:
        return MCPHUB_E_INVAL;
    }
    /* A control character would split the header (response splitting). */
    for (p = resource_metadata_url; p != NULL && *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return MCPHUB_E_INVAL;
    render(&b, &w, error, desc, resource_metadata_url);
    if (b.len >= body_cap || w.len >= www_cap)
        return MCPHUB_E_TOOBIG;
    b.buf = body;
    b.cap = body_cap;
    b.len = 0;
    w.buf = www_auth;
    w.cap = www_cap;
    w.len = 0;
    render(&b, &w, error, desc, resource_metadata_url);
    body[b.len] = '\0';
    www_auth[w.len] = '\0';
    *status = code;
    return 0;
}
