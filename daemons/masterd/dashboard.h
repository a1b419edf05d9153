/* The dashboard page, compiled into the daemon from dashboard/index.html. */
#ifndef MCPHUB_MASTERD_DASHBOARD_H
#define MCPHUB_MASTERD_DASHBOARD_H

#include <stddef.h>

extern const char *const masterd_dashboard_html;
extern const size_t masterd_dashboard_len;

#endif
