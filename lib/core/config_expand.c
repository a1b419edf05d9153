/* ${VAR} and $VAR expansion as MCPHub's expandEnvVars does it, as a pure
 * function over a caller-supplied lookup. */
#include <string.h>

#include "config_int.h"

typedef struct buf {
    const mcphub__mem *mem;
    char *p;
    size_t len, cap;
} buf;

static int put(buf *b, const char *s, size_t n)
{
    if (n > MCPHUB_CONFIG_MAX_STRING - b->len)
        return MCPHUB_E_TOOBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = mcphub__realloc(b->mem, b->p, cap);
        if (p == NULL)
            return MCPHUB_E_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* The value of name[0..n), "" when unset or when the name is too long to
 * be a real variable. */
static const char *value_of(mcphub_var_lookup_fn lookup, void *ud, const char *name, size_t n)
{
    char tmp[256];
    const char *v;

    if (lookup == NULL || n >= sizeof tmp)
        return "";
    memcpy(tmp, name, n);
    tmp[n] = '\0';
    v = lookup(tmp, ud);
    return v != NULL ? v : "";
}

static int upper_start(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

static int upper_rest(char c)
{
    return upper_start(c) || (c >= '0' && c <= '9');
}

MCPHUB_API int mcphub_expand_vars(const char *in, mcphub_var_lookup_fn lookup, void *user_data,
                                  char **out, const mcphub_mem *mem)
{
    mcphub__mem m;
    buf b;
    const char *p = in;
    int rc;

    if (out == NULL)
        return MCPHUB_E_INVAL;
    *out = NULL;
    if (in == NULL || mcphub__mem_init(&m, mem) != 0)
        return MCPHUB_E_INVAL;
    memset(&b, 0, sizeof b);
    b.mem = &m;
    rc = put(&b, "", 0); /* "" in, "" out: never NULL on success */
    while (rc == 0 && *p != '\0') {
        const char *dollar = strchr(p, '$'), *name, *end;
        const char *v;

        if (dollar == NULL) {
            rc = put(&b, p, strlen(p));
            break;
        }
        rc = put(&b, p, (size_t)(dollar - p));
        if (rc != 0)
            break;
        name = dollar + 1;
        if (*name == '{' && (end = strchr(name + 1, '}')) != NULL && end > name + 1) {
            v = value_of(lookup, user_data, name + 1, (size_t)(end - name - 1));
            p = end + 1;
        } else if (upper_start(*name)) {
            for (end = name; upper_rest(*end); end++)
                ;
            v = value_of(lookup, user_data, name, (size_t)(end - name));
            p = end;
        } else if (*name == '$') {
            v = "$$"; /* kept as written */
            p = name + 1;
        } else {
            v = "$";
            p = name;
        }
        rc = put(&b, v, strlen(v));
    }
    if (rc != 0) {
        mcphub__free(&m, b.p);
        return rc;
    }
    *out = b.p;
    return 0;
}
