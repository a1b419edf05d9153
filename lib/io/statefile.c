/* State files: write a temporary file, fsync, rename over the old one,
 * fsync the directory; see statefile.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcphub/statefile.h"

/* Steps of a write or a read, for the test hooks below. */
enum {
    STEP_OPEN = 1,      /* create the temporary file */
    STEP_WRITE = 2,     /* write the data (crash: after half of it) */
    STEP_FSYNC = 3,     /* flush the temporary file */
    STEP_CLOSE = 4,
    STEP_RENAME = 5,    /* rename over the old file */
    STEP_DIR_OPEN = 6,
    STEP_DIR_FSYNC = 7,
    STEP_READ_OPEN = 8,
    STEP_READ_ALLOC = 9,
    STEP_READ = 10
};

/* Test hooks, set only by tests/unit/test_statefile.c: _exit(70) at the
 * crash point (a real crash, seen from outside), or fail the step as the
 * system would (ENOSPC for the write, EIO or ENOMEM otherwise).  0: off. */
extern int mcphub__statefile_crash_point;
extern int mcphub__statefile_fail_point;
int mcphub__statefile_crash_point;
int mcphub__statefile_fail_point;

static int hook(int step)
{
    if (mcphub__statefile_crash_point == step)
        _exit(70);
    if (mcphub__statefile_fail_point == step) {
        errno = step == STEP_WRITE ? ENOSPC : step == STEP_READ_ALLOC ? ENOMEM : EIO;
        return 1;
    }
    return 0;
}

static int errno_code(int e)
{
    switch (e) {
    case ENOENT: return MCPHUB_E_NOTFOUND;
    case ENOMEM: return MCPHUB_E_NOMEM;
    case ENOSPC: case EDQUOT: case EMFILE: case ENFILE: return MCPHUB_E_FULL;
    default: return MCPHUB_E_INVAL;
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int fail(char *err, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && cap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* What the system said, as an error code with "<what> <path>: <reason>". */
static int sys_fail(char *err, size_t cap, int e, const char *what, const char *path)
{
    return fail(err, cap, errno_code(e), "%s %s: %s", what, path, strerror(e));
}

static int valid_name(const char *name)
{
    size_t n;

    if (name == NULL || name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
        return 0;
    n = strlen(name);
    return n <= MCPHUB_STATEFILE_MAX_NAME;
}

static int join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);

    return n >= 0 && (size_t)n < cap;
}

static int check_args(const char *dir, const char *name, char *err, size_t cap)
{
    if (dir == NULL || dir[0] == '\0')
        return fail(err, cap, MCPHUB_E_INVAL, "state directory not set");
    if (!valid_name(name))
        return fail(err, cap, MCPHUB_E_INVAL, "state file name \"%.64s\" is not a plain file name",
                    name != NULL ? name : "");
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t w = write(fd, data, chunk);

        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Make the rename itself durable. */
static int sync_dir(const char *dir, char *err, size_t cap)
{
    int fd, e;

    if (hook(STEP_DIR_OPEN) || (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return sys_fail(err, cap, errno, "open directory", dir);
    /* Some file systems cannot fsync a directory (EINVAL): nothing to do. */
    if ((hook(STEP_DIR_FSYNC) || fsync(fd) != 0) && errno != EINVAL) {
        e = errno;
        close(fd);
        return sys_fail(err, cap, e, "fsync directory", dir);
    }
    close(fd);
    return 0;
}

MCPHUB_API int mcphub_statefile_write(const char *dir, const char *name, const char *data,
                                      size_t len, char *err, size_t err_cap)
{
    char tmp[PATH_MAX], path[PATH_MAX], tmpname[MCPHUB_STATEFILE_MAX_NAME + 32];
    int fd, rc, e;

    if ((rc = check_args(dir, name, err, err_cap)) != 0)
        return rc;
    if (data == NULL && len > 0)
        return fail(err, err_cap, MCPHUB_E_INVAL, "state file %s: no data", name);
    snprintf(tmpname, sizeof tmpname, ".%s.tmp.%ld", name, (long)getpid());
    if (!join(path, sizeof path, dir, name) || !join(tmp, sizeof tmp, dir, tmpname))
        return fail(err, err_cap, MCPHUB_E_TOOBIG, "state file path too long: %.64s...", dir);

    if (hook(STEP_OPEN) || (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return sys_fail(err, err_cap, errno, "create", tmp);
    if (mcphub__statefile_crash_point == STEP_WRITE) {
        (void)write_all(fd, data, len / 2); /* a crash in the middle of the write */
        _exit(70);
    }
    if (hook(STEP_WRITE) || write_all(fd, data, len) != 0) {
        rc = sys_fail(err, err_cap, errno, "write", tmp);
        goto drop_open;
    }
    if (hook(STEP_FSYNC) || fsync(fd) != 0) {
        rc = sys_fail(err, err_cap, errno, "fsync", tmp);
        goto drop_open;
    }
    /* close can report a delayed write error (NFS): a failure counts. */
    if (hook(STEP_CLOSE)) {
        e = errno;
        close(fd);
    } else {
        e = close(fd) != 0 ? errno : 0;
    }
    if (e != 0) {
        rc = sys_fail(err, err_cap, e, "close", tmp);
        goto drop;
    }
    if (hook(STEP_RENAME) || rename(tmp, path) != 0) {
        e = errno;
        rc = fail(err, err_cap, errno_code(e), "rename %s to %s: %s", tmp, path, strerror(e));
        goto drop;
    }
    return sync_dir(dir, err, err_cap);

drop_open:
    close(fd);
drop:
    unlink(tmp);
    return rc;
}

MCPHUB_API int mcphub_statefile_read(const char *dir, const char *name, char **data,
                                     size_t *len, size_t max, char *err, size_t err_cap)
{
    char path[PATH_MAX];
    struct stat st;
    char *buf;
    size_t got = 0, size;
    int fd, rc, e;

    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (data == NULL || len == NULL)
        return fail(err, err_cap, MCPHUB_E_INVAL, "state file: no output pointer");
    if ((rc = check_args(dir, name, err, err_cap)) != 0)
        return rc;
    if (!join(path, sizeof path, dir, name))
        return fail(err, err_cap, MCPHUB_E_TOOBIG, "state file path too long: %.64s...", dir);
    if (max == 0)
        max = MCPHUB_STATEFILE_MAX_DEFAULT;

    if (hook(STEP_READ_OPEN) || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return sys_fail(err, err_cap, errno, "open", path);
    if (fstat(fd, &st) != 0) {
        rc = sys_fail(err, err_cap, errno, "stat", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(err, err_cap, MCPHUB_E_INVAL, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)max) {
        rc = fail(err, err_cap, MCPHUB_E_TOOBIG, "%s has %jd bytes, more than the %zu allowed",
                  path, (intmax_t)st.st_size, max);
        goto out;
    }
    size = (size_t)st.st_size;
    buf = hook(STEP_READ_ALLOC) ? NULL : malloc(size + 1);
    if (buf == NULL) {
        rc = fail(err, err_cap, MCPHUB_E_NOMEM, "read %s: out of memory", path);
        goto out;
    }
    /* Read what fstat promised; a file replaced meanwhile is a new inode,
     * so ours does not change under us. */
    while (got < size) {
        ssize_t r = hook(STEP_READ) ? -1 : read(fd, buf + got, size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            free(buf);
            rc = sys_fail(err, err_cap, e, "read", path);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    rc = 0;
out:
    close(fd);
    return rc;
}

/* ".<name>.tmp.<digits>" as mcphub_statefile_write names its files. */
static int is_stale_tmp(const char *n)
{
    const char *p, *tail = NULL;

    if (n[0] != '.')
        return 0;
    for (p = strstr(n + 1, ".tmp."); p != NULL; p = strstr(p + 1, ".tmp."))
        tail = p;
    if (tail == NULL || tail == n + 1 || tail[5] == '\0')
        return 0;
    for (p = tail + 5; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* mkdir -p: create each missing component with 0700. */
static int make_dirs(char *path, char *err, size_t cap)
{
    char *p;

    for (p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;

            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                int e = errno;

                *p = c;
                return sys_fail(err, cap, e, "mkdir", path);
            }
            *p = c;
            if (c == '\0')
                return 0;
        }
    }
}

static int remove_stale(const char *dir, char *err, size_t cap)
{
    char path[PATH_MAX];
    struct dirent *ent;
    DIR *d = opendir(dir);
    int rc = 0;

    if (d == NULL)
        return sys_fail(err, cap, errno, "open directory", dir);
    while ((ent = readdir(d)) != NULL) {
        if (!is_stale_tmp(ent->d_name) || !join(path, sizeof path, dir, ent->d_name))
            continue;
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = sys_fail(err, cap, errno, "remove stale", path);
            break;
        }
    }
    closedir(d);
    return rc;
}

MCPHUB_API int mcphub_statefile_prepare_dir(const char *dir, char *err, size_t err_cap)
{
    char buf[PATH_MAX], probe[PATH_MAX], name[64];
    struct stat st;
    size_t n;
    int fd, rc;

    if (dir == NULL || dir[0] == '\0')
        return fail(err, err_cap, MCPHUB_E_INVAL, "state directory not set");
    n = strlen(dir);
    if (n >= sizeof buf)
        return fail(err, err_cap, MCPHUB_E_TOOBIG, "state directory path too long: %.64s...", dir);
    memcpy(buf, dir, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    if ((rc = make_dirs(buf, err, err_cap)) != 0)
        return rc;
    if (stat(buf, &st) != 0)
        return sys_fail(err, err_cap, errno, "stat", buf);
    if (!S_ISDIR(st.st_mode))
        return fail(err, err_cap, MCPHUB_E_INVAL, "state directory %s is not a directory", buf);
    /* access(2) says yes to root even on a read-only mount: try it. */
    snprintf(name, sizeof name, ".mcphub-probe.tmp.%ld", (long)getpid());
    if (!join(probe, sizeof probe, buf, name))
        return fail(err, err_cap, MCPHUB_E_TOOBIG, "state directory path too long: %.64s...", dir);
    fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;

        return fail(err, err_cap, errno_code(e) == MCPHUB_E_FULL ? MCPHUB_E_FULL : MCPHUB_E_INVAL,
                    "state directory %s is not writable: %s", buf, strerror(e));
    }
    close(fd);
    unlink(probe);
    return remove_stale(buf, err, err_cap);
}
