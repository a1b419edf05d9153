/* Internal: what a node reports about itself (metadata at registration,
 * load with each heartbeat), read from /proc and uname. */
#ifndef MCPHUB_SYSINFO_INT_H
#define MCPHUB_SYSINFO_INT_H

#include <stdint.h>

#include "mcphub/types.h"

typedef struct mcphub__sysinfo {
    char hostname[256];
    char os[128];
    uint64_t last_cpu_ticks;   /* this process and its reaped children */
    uint64_t last_wall_ms;
} mcphub__sysinfo;

/* Fill the static part; meta's strings point into si. */
void mcphub__sysinfo_init(mcphub__sysinfo *si, mcphub_node_meta *meta, const char *version);
/* cpu_percent since the previous sample (of one core: 100 = one core busy),
 * memory used by this process (RSS) and the machine's total. */
void mcphub__sysinfo_sample(mcphub__sysinfo *si, uint64_t now_ms, mcphub_node_metrics *m);
/* Resident set size of this process in bytes. */
uint64_t mcphub__sysinfo_rss(void);

#endif
