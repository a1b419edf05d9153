/* Fuzz target: the HTTP request target — percent-decoding, ".." rejection
 * and query splitting (lib/io/http_path.c, what the HTTP server runs on
 * every request) — and the daemons' path routing (mcphub__path_tail).
 *
 * The input, up to its first NUL (MHD hands over a C string), is the
 * target.  It is decoded into a block of exactly the measured size (ASan
 * catches any write past it), and an accepted target must give a path that
 * starts with '/', has no ".." segment, is no longer than the raw path,
 * and a query whose every name is found by the lookup. */
#include "io/http_path_int.h"
#include "io/http_util_int.h"

#include "fuzz_util.h"

static int has_dotdot_segment(const char *path)
{
    const char *seg = path;

    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end != NULL ? (size_t)(end - seg) : strlen(seg);

        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return 1;
        if (end == NULL)
            return 0;
        seg = end + 1;
    }
}

static void routes(const char *path)
{
    static const char *const prefixes[] = {"/mcp/", "/sse/", "/api/servers/",
                                           "/api/tools/call/", "/api/cluster/nodes/",
                                           "/api/cluster/replicas/", "/", ""};
    char seg[160];
    size_t i;

    for (i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        const char *tail = mcphub__path_tail(path, prefixes[i], seg, sizeof seg);
        size_t pl = strlen(prefixes[i]);

        if (tail == NULL)
            continue;
        /* one non-empty segment right after the prefix */
        FUZZ_CHECK(tail == seg);
        FUZZ_CHECK(strncmp(path, prefixes[i], pl) == 0);
        FUZZ_CHECK(strcmp(path + pl, seg) == 0);
        FUZZ_CHECK(seg[0] != '\0' && strchr(seg, '/') == NULL);
        FUZZ_CHECK(strlen(seg) < sizeof seg);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = fuzz_strndup(data, size);
    const char *qmark, *bad;
    size_t n = 0, chars, plen, i;
    char *block;
    const char **query;

    if (target == NULL)
        return 0;
    chars = mcphub__http_target_measure(target, &n);
    qmark = strchr(target, '?');
    plen = qmark != NULL ? (size_t)(qmark - target) : strlen(target);
    FUZZ_CHECK(chars >= plen + 1);
    FUZZ_CHECK(n <= strlen(target));
    block = malloc(chars);
    query = malloc((2 * n + 1) * sizeof *query);
    if (block == NULL || query == NULL) {
        free(block);
        free(query);
        free(target);
        return 0;
    }
    bad = mcphub__http_target_decode(target, block, query);
    if (bad == NULL) {
        FUZZ_CHECK(target[0] == '/');
        FUZZ_CHECK(block[0] == '/');
        FUZZ_CHECK(strlen(block) <= plen);
        FUZZ_CHECK(!has_dotdot_segment(block));
        for (i = 0; target[i] != '\0'; i++)
            FUZZ_CHECK((unsigned char)target[i] > 0x20 && (unsigned char)target[i] != 0x7f);
        for (i = 0; i < n; i++) {
            const char *v;

            FUZZ_CHECK(query[2 * i] != NULL && query[2 * i + 1] != NULL);
            /* the strings lie in the block (or are the static "") */
            FUZZ_CHECK((query[2 * i] >= block && query[2 * i] < block + chars));
            FUZZ_CHECK(query[2 * i + 1][0] == '\0' ||
                       (query[2 * i + 1] >= block && query[2 * i + 1] < block + chars));
            v = mcphub__http_query_find(query, n, query[2 * i]);
            FUZZ_CHECK(v != NULL);
        }
        FUZZ_CHECK(mcphub__http_query_find(query, n, NULL) == NULL);
        routes(block);
    } else {
        FUZZ_CHECK(strlen(bad) > 0);
    }
    free(block);
    free(query);
    free(target);
    return 0;
}
