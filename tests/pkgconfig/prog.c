/* Built outside the tree against an installed copy (make check-pkgconfig). */
#include <stdio.h>
#include <string.h>

#include <mcphub/mcphub.h>

int main(void)
{
    if (strcmp(mcphub_version(), MCPHUB_VERSION_STRING) != 0 ||
        mcphub_version_num() != MCPHUB_VERSION_NUM) {
        fprintf(stderr, "header %s, library %s\n", MCPHUB_VERSION_STRING, mcphub_version());
        return 1;
    }
    if (strcmp(mcphub_strerror(MCPHUB_E_NOMEM), "out of memory") != 0)
        return 1;
    return 0;
}
