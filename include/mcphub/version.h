/* libmcphub-cluster: compile-time version.
 *
 * MCPHUB_VERSION_NUM is 0xMMmmpp, so comparisons are plain integer ones:
 *   #if MCPHUB_VERSION_NUM >= 0x000100
 * Compare it with mcphub_version_num() at run time to catch a header/library
 * mismatch (the daemons do this at start). */
#ifndef MCPHUB_VERSION_H
#define MCPHUB_VERSION_H

#define MCPHUB_VERSION_MAJOR 0
#define MCPHUB_VERSION_MINOR 1
#define MCPHUB_VERSION_PATCH 0
#define MCPHUB_VERSION_STRING "0.1.0"
#define MCPHUB_VERSION_NUM \
    ((MCPHUB_VERSION_MAJOR << 16) | (MCPHUB_VERSION_MINOR << 8) | MCPHUB_VERSION_PATCH)

#endif
