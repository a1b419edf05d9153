/* Node metadata and load from /proc; see sysinfo_int.h. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sysinfo_int.h"

static uint64_t mem_total(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

void mcphub__sysinfo_init(mcphub__sysinfo *si, mcphub_node_meta *meta, const char *version)
{
    struct utsname u;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(si, 0, sizeof *si);
    if (gethostname(si->hostname, sizeof si->hostname - 1) != 0)
        snprintf(si->hostname, sizeof si->hostname, "unknown");
    if (uname(&u) == 0)
        snprintf(si->os, sizeof si->os, "%.60s %.60s", u.sysname, u.release);
    memset(meta, 0, sizeof *meta);
    meta->hostname = si->hostname;
    meta->os = si->os;
    meta->version = version;
    meta->cpu_count = ncpu > 0 ? (uint32_t)ncpu : 1;
    meta->memory_total = mem_total();
}

uint64_t mcphub__sysinfo_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    long page = sysconf(_SC_PAGESIZE);

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (uint64_t)rss * (uint64_t)(page > 0 ? page : 4096);
}

/* CPU time used by this process and its reaped children, in ms. */
static uint64_t cpu_ms(void)
{
    struct rusage self, kids;
    uint64_t ms = 0;

    if (getrusage(RUSAGE_SELF, &self) == 0)
        ms += (uint64_t)self.ru_utime.tv_sec * 1000 + (uint64_t)self.ru_utime.tv_usec / 1000 +
              (uint64_t)self.ru_stime.tv_sec * 1000 + (uint64_t)self.ru_stime.tv_usec / 1000;
    if (getrusage(RUSAGE_CHILDREN, &kids) == 0)
        ms += (uint64_t)kids.ru_utime.tv_sec * 1000 + (uint64_t)kids.ru_utime.tv_usec / 1000 +
              (uint64_t)kids.ru_stime.tv_sec * 1000 + (uint64_t)kids.ru_stime.tv_usec / 1000;
    return ms;
}

void mcphub__sysinfo_sample(mcphub__sysinfo *si, uint64_t now_ms, mcphub_node_metrics *m)
{
    uint64_t used = cpu_ms();

    memset(m, 0, sizeof *m);
    if (si->last_wall_ms != 0 && now_ms > si->last_wall_ms && used >= si->last_cpu_ticks)
        m->cpu_percent = 100.0 * (double)(used - si->last_cpu_ticks) /
                         (double)(now_ms - si->last_wall_ms);
    if (m->cpu_percent > 100.0)
        m->cpu_percent = 100.0;
    si->last_cpu_ticks = used;
    si->last_wall_ms = now_ms;
    m->memory_used = mcphub__sysinfo_rss();
    m->memory_total = mem_total();
}
