/* Randomness for the library (session ids, replica ids, jitter, hash
 * seeds) from getrandom(2). */
#ifndef MCPHUB_DAEMON_RANDOM_H
#define MCPHUB_DAEMON_RANDOM_H

#include <stdint.h>

uint32_t daemon_random(void *user_data);

#endif
