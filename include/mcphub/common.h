/* libmcphub-cluster: what every module shares — export macro, error codes,
 * allocator hooks, log and randomness callbacks.
 *
 * Thread safety: a handle must not be used by two threads at once; the
 * library has no global mutable state and no internal locks. */
#ifndef MCPHUB_COMMON_H
#define MCPHUB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MCPHUB_BUILDING) && defined(__GNUC__)
#define MCPHUB_API __attribute__((visibility("default")))
#else
#define MCPHUB_API
#endif

#if defined(__GNUC__)
#define MCPHUB_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define MCPHUB_DEPRECATED(msg)
#endif

/* Error codes: 0 is success, failures are negative and lie in -500..-999 so
 * they never meet a negated errno.  At or below MCPHUB_E_FATAL the handle that
 * returned it may only be freed.  A failed call changes nothing. */
typedef enum {
    MCPHUB_OK = 0,
    MCPHUB_E_INVAL = -501,       /* an argument or a field is not valid */
    MCPHUB_E_NOMEM = -502,       /* an allocation failed; nothing changed */
    MCPHUB_E_NOTFOUND = -503,    /* no such node, replica, route, server */
    MCPHUB_E_EXISTS = -504,      /* already there and not the same */
    MCPHUB_E_FULL = -505,        /* a configured bound was reached */
    MCPHUB_E_PARSE = -506,       /* malformed JSON or wire message */
    MCPHUB_E_UNAVAILABLE = -507, /* no healthy replica or node to use */
    MCPHUB_E_WOULDBLOCK = -508,  /* a callback cannot go on now; try later */
    MCPHUB_E_DEFERRED = -509,    /* a callback took the work; result later */
    MCPHUB_E_TOOBIG = -510,      /* a message or line is over its limit */
    MCPHUB_E_STATE = -511,       /* not allowed in the object's current state */
    MCPHUB_E_REFUSED = -520,     /* the peer refused the request (its message says why) */
    MCPHUB_E_FATAL = -900,
    MCPHUB_E_CALLBACK = -901     /* a callback failed fatally */
} mcphub_error;

/* Static English text for an error code; never NULL. */
MCPHUB_API const char *mcphub_strerror(int code);

/* Run-time version, e.g. "0.1.0", and its 0xMMmmpp number. */
MCPHUB_API const char *mcphub_version(void);
MCPHUB_API unsigned mcphub_version_num(void);

/* Compare two secrets (tokens, keys) in time that depends only on the
 * length of b (the expected one), never on where they differ.  1 when equal.
 * NULL never equals anything. */
MCPHUB_API int mcphub_secret_equal(const char *a, const char *b);

/* Allocator hooks, given per handle (there is no global allocator).  A NULL
 * mcphub_mem, or NULL members, mean the C library's.  The struct is copied.
 * size must be sizeof(mcphub_mem) (or a smaller, older size). */
typedef struct mcphub_mem {
    size_t size;
    void *(*malloc_fn)(size_t n, void *user_data);
    void *(*realloc_fn)(void *p, size_t n, void *user_data);
    void (*free_fn)(void *p, void *user_data);
    void *user_data;
} mcphub_mem;

typedef enum {
    MCPHUB_LOG_ERROR = 0,
    MCPHUB_LOG_WARN = 1,
    MCPHUB_LOG_INFO = 2,
    MCPHUB_LOG_DEBUG = 3
} mcphub_log_level;

/* Log sink: one event per call, msg is "event key=value ..." without a
 * newline and never carries a secret.  Default: silent. */
typedef void (*mcphub_log_fn)(mcphub_log_level level, const char *msg, void *user_data);

/* Randomness source: returns 32 random bits.  Seed it for reproducible tests;
 * the daemons plug in getrandom(2). */
typedef uint32_t (*mcphub_random_fn)(void *user_data);

#ifdef __cplusplus
}
#endif
#endif
