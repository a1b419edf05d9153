/* A child program for the process runner's tests.  Mode by argv[1]:
 *
 *   echo               copy each stdin line to stdout; exit 0 at EOF
 *   crash [ms]         exit 3 after ms (default 0)
 *   hang               ignore SIGTERM, print "ready", sleep until killed
 *   flood-stderr [n]   write n (default 100000) stderr lines, then "done"
 *                      on stdout, then echo
 *   invalid-json       a few garbage lines, then valid JSON-RPC lines
 *   bigline [mib]      one line of mib MiB (default 10), then "after"
 *   fork-grandchild    fork a grandchild that ignores SIGTERM and sleeps;
 *                      print "gc <pid>", then echo
 *   fds                print how many fds are open ("fds 3"), then echo
 *   env NAME...        print NAME=value (or NAME unset) for each, then echo
 *   cwd                print the working directory, then echo
 *   sigmask            print "blocked N ignored M" (signals), then echo
 *   noread             never read stdin; print "ready", sleep until killed */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void sleep_forever(void)
{
    for (;;)
        pause();
}

static int echo(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        fwrite(line, 1, (size_t)n, stdout);
        fflush(stdout);
    }
    free(line);
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;   /* the directory's own fd */
}

static void say(const char *s)
{
    fputs(s, stdout);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "echo";

    if (strcmp(mode, "echo") == 0)
        return echo();
    if (strcmp(mode, "crash") == 0) {
        sleep_ms(argc > 2 ? atol(argv[2]) : 0);
        return 3;
    }
    if (strcmp(mode, "hang") == 0 || strcmp(mode, "noread") == 0) {
        if (strcmp(mode, "hang") == 0)
            signal(SIGTERM, SIG_IGN);
        say("ready\n");
        sleep_forever();
    }
    if (strcmp(mode, "flood-stderr") == 0) {
        long i, n = argc > 2 ? atol(argv[2]) : 100000;

        for (i = 0; i < n; i++)
            fprintf(stderr, "log line %ld: some noise to fill the pipe quickly\n", i);
        fflush(stderr);
        say("done\n");
        return echo();
    }
    if (strcmp(mode, "invalid-json") == 0) {
        say("this is not json\n{\"broken\":\n\n");
        say("\x01\x02 binary \xff\n");
        say("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n");
        say("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
        return 0;
    }
    if (strcmp(mode, "bigline") == 0) {
        long i, mib = argc > 2 ? atol(argv[2]) : 10;
        static char chunk[1 << 20];

        memset(chunk, 'x', sizeof chunk);
        for (i = 0; i < mib; i++)
            fwrite(chunk, 1, sizeof chunk, stdout);
        say("\nafter\n");
        return 0;
    }
    if (strcmp(mode, "fork-grandchild") == 0) {
        pid_t gc;

        /* The grandchild keeps stdout open, ignores SIGTERM (so only a
         * SIGKILL to the group ends it) and sleeps.  Ignored before the
         * fork, so there is no moment where SIGTERM would still kill it. */
        signal(SIGTERM, SIG_IGN);
        gc = fork();
        if (gc == 0)
            sleep_forever();
        signal(SIGTERM, SIG_DFL);
        printf("gc %ld\n", (long)gc);
        fflush(stdout);
        return echo();
    }
    if (strcmp(mode, "fds") == 0) {
        printf("fds %d\n", count_fds());
        fflush(stdout);
        return echo();
    }
    if (strcmp(mode, "env") == 0) {
        int i;

        for (i = 2; i < argc; i++) {
            const char *v = getenv(argv[i]);

            if (v != NULL)
                printf("%s=%s\n", argv[i], v);
            else
                printf("%s unset\n", argv[i]);
        }
        fflush(stdout);
        return echo();
    }
    if (strcmp(mode, "cwd") == 0) {
        char buf[4096];

        printf("%s\n", getcwd(buf, sizeof buf) != NULL ? buf : "?");
        fflush(stdout);
        return echo();
    }
    if (strcmp(mode, "sigmask") == 0) {
        sigset_t set;
        int s, blocked = 0, ignored = 0;

        sigprocmask(SIG_BLOCK, NULL, &set);
        for (s = 1; s < 32; s++) {
            struct sigaction sa;

            if (sigismember(&set, s) == 1)
                blocked++;
            if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                ignored++;
        }
        printf("blocked %d ignored %d\n", blocked, ignored);
        fflush(stdout);
        return echo();
    }
    fprintf(stderr, "testchild: unknown mode %s\n", mode);
    return 2;
}
