/* getrandom(2), buffered; see random.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "random.h"

uint32_t daemon_random(void *user_data)
{
    static uint32_t buf[64];
    static size_t left;

    (void)user_data;
    while (left == 0) {
        ssize_t n = getrandom(buf, sizeof buf, 0);

        if (n == (ssize_t)sizeof buf)
            left = sizeof buf / sizeof buf[0];
        else if (n < 0 && errno != EINTR)
            abort(); /* no randomness: session ids would be guessable */
    }
    return buf[--left];
}
