/* Unit tests: atomic state files — round trip, real crashes (a forked
 * child exits half way), every step failing, size bound, bad directories,
 * readers never seeing a partial file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <mcphub/statefile.h>


/* Test hooks of lib/io/statefile.c and its step numbers (kept in step). */
extern int mcphub__statefile_crash_point;
extern int mcphub__statefile_fail_point;
enum {
    STEP_OPEN = 1,
    STEP_WRITE = 2, /* crash: after half the data */
    STEP_FSYNC = 3,
    STEP_CLOSE = 4,
    STEP_RENAME = 5,
    STEP_DIR_OPEN = 6,
    STEP_DIR_FSYNC = 7,
    STEP_READ_OPEN = 8,
    STEP_READ_ALLOC = 9,
    STEP_READ = 10
};

#define CRASH_EXIT 70

static const char v1[] = "{\"version\":1,\"servers\":[\"a\",\"b\"]}";
static const char v2[] = "{\"version\":2,\"servers\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}";

/* ---- helpers ---- */

static void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char sub[4096];

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        d = opendir(path);
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d != NULL)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup_dir(void **state)
{
    char *dir = malloc(64);

    assert_non_null(dir);
    strcpy(dir, "/tmp/mcphub-statefile-XXXXXX");
    assert_non_null(mkdtemp(dir));
    *state = dir;
    mcphub__statefile_crash_point = 0;
    mcphub__statefile_fail_point = 0;
    return 0;
}

static int teardown_dir(void **state)
{
    rm_rf(*state);
    free(*state);
    mcphub__statefile_crash_point = 0;
    mcphub__statefile_fail_point = 0;
    return 0;
}

/* The file's content must be exactly want. */
static void assert_content(const char *dir, const char *name, const char *want, size_t want_len)
{
    char *data = NULL, err[256] = "";
    size_t len = 0;

    assert_int_equal(mcphub_statefile_read(dir, name, &data, &len, 0, err, sizeof err), 0);
    assert_non_null(data);
    assert_int_equal(len, want_len);
    assert_memory_equal(data, want, want_len);
    assert_int_equal(data[len], '\0');
    free(data);
}

/* How many directory entries start with ".<name>.tmp.". */
static int count_tmp(const char *dir, const char *name)
{
    char prefix[256];
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    snprintf(prefix, sizeof prefix, ".%s.tmp.", name);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

static void touch(const char *dir, const char *name, const char *text)
{
    char p[4096];
    FILE *f;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Run a write in a child that crashes at crash_point; return the child's
 * pid after checking it really died there. */
static pid_t crash_write(const char *dir, const char *name, const char *data, size_t len,
                         int crash_point)
{
    int st = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        mcphub__statefile_crash_point = crash_point;
        mcphub_statefile_write(dir, name, data, len, NULL, 0);
        _exit(0); /* not reached when the hook fires */
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), CRASH_EXIT);
    return pid;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    const char *base = *state;
    char dir[512], err[256] = "", *data = NULL;
    static const char bin[] = {'a', '\0', 'b', '\n', '\0', (char)0xff};
    struct stat st;
    size_t len = 1;

    snprintf(dir, sizeof dir, "%s/var/lib/mcphub/", base);
    assert_int_equal(mcphub_statefile_prepare_dir(dir, err, sizeof err), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    /* again: an existing directory is fine */
    assert_int_equal(mcphub_statefile_prepare_dir(dir, err, sizeof err), 0);

    assert_int_equal(mcphub_statefile_write(dir, "state.json", v1, strlen(v1), err, sizeof err), 0);
    assert_content(dir, "state.json", v1, strlen(v1));
    assert_int_equal(mcphub_statefile_write(dir, "state.json", v2, strlen(v2), err, sizeof err), 0);
    assert_content(dir, "state.json", v2, strlen(v2));
    assert_int_equal(count_tmp(dir, "state.json"), 0);
    {
        char p[600];

        snprintf(p, sizeof p, "%sstate.json", dir);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    /* any bytes, and the empty document */
    assert_int_equal(mcphub_statefile_write(dir, "bin", bin, sizeof bin, err, sizeof err), 0);
    assert_content(dir, "bin", bin, sizeof bin);
    assert_int_equal(mcphub_statefile_write(dir, "empty", NULL, 0, err, sizeof err), 0);
    assert_int_equal(mcphub_statefile_read(dir, "empty", &data, &len, 0, err, sizeof err), 0);
    assert_non_null(data);
    assert_int_equal(len, 0);
    assert_int_equal(data[0], '\0');
    free(data);
}

static void test_not_found(void **state)
{
    const char *dir = *state;
    char err[256] = "", *data = (char *)1;
    size_t len = 5;

    assert_int_equal(mcphub_statefile_read(dir, "state.json", &data, &len, 0, err, sizeof err),
                     MCPHUB_E_NOTFOUND);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, "state.json"));
    assert_non_null(strstr(err, "No such file"));
    /* writing into a directory that is not there */
    assert_int_equal(mcphub_statefile_write("/nonexistent-mcphub-dir", "s", "x", 1, err,
                                            sizeof err), MCPHUB_E_NOTFOUND);
    assert_non_null(strstr(err, "create /nonexistent-mcphub-dir/.s.tmp."));
}

static void test_crash_before_rename_keeps_old_file(void **state)
{
    const char *dir = *state;
    char tmpname[128], err[256] = "";
    pid_t child;

    assert_int_equal(mcphub_statefile_write(dir, "state.json", v1, strlen(v1), err, sizeof err), 0);
    child = crash_write(dir, "state.json", v2, strlen(v2), STEP_RENAME);
    /* the old document is untouched; the crashed write's file is there,
     * complete (it was fsynced) */
    assert_content(dir, "state.json", v1, strlen(v1));
    snprintf(tmpname, sizeof tmpname, ".state.json.tmp.%ld", (long)child);
    assert_true(exists(dir, tmpname));
    {
        char p[600], got[128] = "";
        FILE *f;

        snprintf(p, sizeof p, "%s/%s", dir, tmpname);
        f = fopen(p, "r");
        assert_non_null(f);
        assert_int_equal(fread(got, 1, sizeof got - 1, f), strlen(v2));
        fclose(f);
        assert_string_equal(got, v2);
    }

    /* neighbours that only look similar survive the clean-up */
    touch(dir, ".hidden", "h");
    touch(dir, "notes.tmp.1", "n");
    touch(dir, ".x.tmp.12a", "x");
    touch(dir, ".tmp.5", "t");
    touch(dir, ".other.json.tmp.42", "stale");
    assert_int_equal(mcphub_statefile_prepare_dir(dir, err, sizeof err), 0);
    assert_false(exists(dir, tmpname));
    assert_false(exists(dir, ".other.json.tmp.42"));
    assert_true(exists(dir, ".hidden"));
    assert_true(exists(dir, "notes.tmp.1"));
    assert_true(exists(dir, ".x.tmp.12a"));
    assert_true(exists(dir, ".tmp.5"));
    assert_int_equal(count_tmp(dir, "mcphub-probe"), 0); /* the probe is gone too */
    assert_content(dir, "state.json", v1, strlen(v1));
    /* and the next write works */
    assert_int_equal(mcphub_statefile_write(dir, "state.json", v2, strlen(v2), err, sizeof err), 0);
    assert_content(dir, "state.json", v2, strlen(v2));
}

static void test_crash_mid_write_and_after_rename(void **state)
{
    const char *dir = *state;
    char err[256] = "";

    assert_int_equal(mcphub_statefile_write(dir, "state.json", v1, strlen(v1), err, sizeof err), 0);
    /* half of v2 written, then death: v1 stays */
    crash_write(dir, "state.json", v2, strlen(v2), STEP_WRITE);
    assert_content(dir, "state.json", v1, strlen(v1));
    assert_int_equal(count_tmp(dir, "state.json"), 1);
    /* a crash before the temp file exists changes nothing either */
    crash_write(dir, "state.json", v2, strlen(v2), STEP_OPEN);
    assert_content(dir, "state.json", v1, strlen(v1));
    /* the rename is the commit point: after it, v2 is the document */
    crash_write(dir, "state.json", v2, strlen(v2), STEP_DIR_OPEN);
    assert_content(dir, "state.json", v2, strlen(v2));
    assert_int_equal(mcphub_statefile_prepare_dir(dir, err, sizeof err), 0);
    assert_int_equal(count_tmp(dir, "state.json"), 0);
}

/* Every step of a write fails in turn, as the system would make it: a
 * clean error with text, no temp file left, the old document intact (the
 * directory flush comes after the rename, so there the new one is in). */
static void test_every_write_step_failing(void **state)
{
    const char *dir = *state;
    char err[256];
    int step, rc;

    assert_int_equal(mcphub_statefile_write(dir, "state.json", v1, strlen(v1), NULL, 0), 0);
    for (step = STEP_OPEN; step <= STEP_DIR_FSYNC; step++) {
        const char *want = step < STEP_DIR_OPEN ? v1 : v2;

        err[0] = '\0';
        mcphub__statefile_fail_point = step;
        rc = mcphub_statefile_write(dir, "state.json", v2, strlen(v2), err, sizeof err);
        mcphub__statefile_fail_point = 0;
        assert_int_equal(rc, step == STEP_WRITE ? MCPHUB_E_FULL : MCPHUB_E_INVAL);
        assert_true(strlen(err) > 0);
        assert_non_null(strstr(err, step == STEP_WRITE ? "No space left" : "Input/output error"));
        assert_int_equal(count_tmp(dir, "state.json"), 0);
        assert_content(dir, "state.json", want, strlen(want));
        /* put v1 back for the next round */
        assert_int_equal(mcphub_statefile_write(dir, "state.json", v1, strlen(v1), NULL, 0), 0);
    }
    mcphub__statefile_fail_point = STEP_RENAME;
    assert_int_equal(mcphub_statefile_write(dir, "state.json", v2, strlen(v2), err, sizeof err),
                     MCPHUB_E_INVAL);
    mcphub__statefile_fail_point = 0;
    assert_non_null(strstr(err, "rename "));
    assert_non_null(strstr(err, "/state.json: Input/output error"));
}

static void test_every_read_step_failing(void **state)
{
    const char *dir = *state;
    static const int codes[] = {MCPHUB_E_INVAL, MCPHUB_E_NOMEM, MCPHUB_E_INVAL};
    char err[256], *data;
    size_t len;
    int step;

    assert_int_equal(mcphub_statefile_write(dir, "state.json", v1, strlen(v1), NULL, 0), 0);
    for (step = STEP_READ_OPEN; step <= STEP_READ; step++) {
        data = (char *)1;
        len = 3;
        err[0] = '\0';
        mcphub__statefile_fail_point = step;
        assert_int_equal(mcphub_statefile_read(dir, "state.json", &data, &len, 0, err, sizeof err),
                         codes[step - STEP_READ_OPEN]);
        mcphub__statefile_fail_point = 0;
        assert_null(data);
        assert_int_equal(len, 0);
        assert_non_null(strstr(err, "state.json"));
    }
    assert_content(dir, "state.json", v1, strlen(v1));
}

static void test_too_big_refused(void **state)
{
    const char *dir = *state;
    char buf[1000], err[256] = "", *data = (char *)1;
    size_t len = 1;

    memset(buf, 'q', sizeof buf);
    assert_int_equal(mcphub_statefile_write(dir, "big", buf, sizeof buf, err, sizeof err), 0);
    assert_int_equal(mcphub_statefile_read(dir, "big", &data, &len, 999, err, sizeof err),
                     MCPHUB_E_TOOBIG);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, "has 1000 bytes, more than the 999 allowed"));
    assert_int_equal(mcphub_statefile_read(dir, "big", &data, &len, 1000, err, sizeof err), 0);
    assert_int_equal(len, 1000);
    free(data);
}

static void test_bad_arguments(void **state)
{
    const char *dir = *state;
    char err[256], longname[MCPHUB_STATEFILE_MAX_NAME + 2], *data;
    size_t len;

    assert_int_equal(mcphub_statefile_write(dir, "", "x", 1, err, sizeof err), MCPHUB_E_INVAL);
    assert_non_null(strstr(err, "not a plain file name"));
    assert_int_equal(mcphub_statefile_write(dir, ".hidden", "x", 1, err, sizeof err),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_write(dir, "../escape", "x", 1, err, sizeof err),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_write(dir, "a/b", "x", 1, err, sizeof err), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_write(dir, NULL, "x", 1, err, sizeof err), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_write(NULL, "s", "x", 1, err, sizeof err), MCPHUB_E_INVAL);
    assert_non_null(strstr(err, "state directory not set"));
    assert_int_equal(mcphub_statefile_write(dir, "s", NULL, 1, err, sizeof err), MCPHUB_E_INVAL);
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(mcphub_statefile_write(dir, longname, "x", 1, err, sizeof err),
                     MCPHUB_E_INVAL);
    longname[MCPHUB_STATEFILE_MAX_NAME] = '\0';
    assert_int_equal(mcphub_statefile_write(dir, longname, "x", 1, err, sizeof err), 0);
    assert_int_equal(mcphub_statefile_read(dir, "s", NULL, &len, 0, err, sizeof err),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_read(dir, "a/b", &data, &len, 0, err, sizeof err),
                     MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_prepare_dir("", err, sizeof err), MCPHUB_E_INVAL);
    assert_int_equal(mcphub_statefile_prepare_dir(NULL, NULL, 0), MCPHUB_E_INVAL);
    /* a small err buffer is cut, still terminated; none at all is fine */
    assert_int_equal(mcphub_statefile_write(NULL, "s", "x", 1, err, 6), MCPHUB_E_INVAL);
    assert_string_equal(err, "state");
    assert_int_equal(mcphub_statefile_write(NULL, "s", "x", 1, NULL, 0), MCPHUB_E_INVAL);
    /* a directory is not a state file */
    assert_int_equal(mkdir(strcat(strcpy(err, dir), "/sub"), 0700), 0);
    assert_int_equal(mcphub_statefile_read(dir, "sub", &data, &len, 0, err, sizeof err),
                     MCPHUB_E_INVAL);
    assert_non_null(strstr(err, "is not a regular file"));
}

static void test_unusable_directories(void **state)
{
    const char *dir = *state;
    char path[512], err[256] = "";

    /* a component is a regular file */
    touch(dir, "file", "x");
    snprintf(path, sizeof path, "%s/file/state", dir);
    assert_int_equal(mcphub_statefile_prepare_dir(path, err, sizeof err), MCPHUB_E_INVAL);
    assert_non_null(strstr(err, "mkdir "));
    assert_non_null(strstr(err, "Not a directory"));
    snprintf(path, sizeof path, "%s/file", dir);
    assert_int_equal(mcphub_statefile_prepare_dir(path, err, sizeof err), MCPHUB_E_INVAL);
    assert_non_null(strstr(err, "is not a directory"));
}

/* A directory this process may not write to.  root may write anywhere, so
 * as root the check runs in a child that becomes nobody. */
static void test_unwritable_directory(void **state)
{
    const char *dir = *state;
    char ro[512];
    pid_t pid;
    int st = 0;

    snprintf(ro, sizeof ro, "%s/ro", dir);
    assert_int_equal(mkdir(ro, 0700), 0);
    assert_int_equal(mcphub_statefile_write(ro, "state.json", v1, strlen(v1), NULL, 0), 0);
    assert_int_equal(chmod(ro, 0500), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256] = "";
        int rc;

        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(10);
        rc = mcphub_statefile_prepare_dir(ro, err, sizeof err);
        if (rc != MCPHUB_E_INVAL || strstr(err, "is not writable: Permission denied") == NULL)
            _exit(11);
        rc = mcphub_statefile_write(ro, "state.json", v2, strlen(v2), err, sizeof err);
        if (rc != MCPHUB_E_INVAL || strstr(err, "create ") == NULL ||
            strstr(err, "Permission denied") == NULL)
            _exit(12);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_content(ro, "state.json", v1, strlen(v1));
}

/* A reader racing a writer only ever sees one whole document. */
static void test_no_partial_file_visible(void **state)
{
    enum { SIZE = 65536, ROUNDS = 150 };
    const char *dir = *state;
    char *a = malloc(SIZE), *b = malloc(SIZE), *data;
    int st = 0, reads = 0, done = 0;
    size_t len, i;
    pid_t pid;

    assert_non_null(a);
    assert_non_null(b);
    memset(a, 'a', SIZE);
    memset(b, 'b', SIZE);
    assert_int_equal(mcphub_statefile_write(dir, "state.json", a, SIZE, NULL, 0), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int r, bad = 0;

        for (r = 0; r < ROUNDS && !bad; r++)
            bad = mcphub_statefile_write(dir, "state.json", r % 2 ? a : b, SIZE, NULL, 0) != 0;
        free(a); /* the child exits under valgrind too */
        free(b);
        _exit(bad);
    }
    while (!done) {
        done = waitpid(pid, &st, WNOHANG) == pid;
        assert_int_equal(mcphub_statefile_read(dir, "state.json", &data, &len, 0, NULL, 0), 0);
        assert_int_equal(len, SIZE);
        for (i = 1; i < len; i++)
            if (data[i] != data[0])
                fail_msg("mixed document at byte %zu", i);
        assert_true(data[0] == 'a' || data[0] == 'b');
        free(data);
        reads++;
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(reads > 1);
    assert_int_equal(count_tmp(dir, "state.json"), 0);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_not_found, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_crash_before_rename_keeps_old_file, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_crash_mid_write_and_after_rename, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_every_write_step_failing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_every_read_step_failing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_too_big_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_unusable_directories, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_unwritable_directory, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_no_partial_file_visible, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests_name("statefile", tests, NULL, NULL);
}
