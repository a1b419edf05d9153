/* libmcphub-cluster: state files — a small document (the master's desired
 * state) kept in a state directory and replaced atomically.
 *
 * A write goes to a temporary file "<dir>/.<name>.tmp.<pid>", is flushed
 * to disk (fsync), renamed over "<dir>/<name>" and the directory is
 * flushed too.  A reader, or the process after a crash or power loss,
 * sees the old document or the new one, never a mix or a partial file.
 * A crash may leave a temporary file behind: mcphub_statefile_prepare_dir
 * removes those at start.
 *
 * name is a plain file name: not empty, no '/', not starting with '.',
 * at most MCPHUB_STATEFILE_MAX_NAME bytes.  Files are created with mode
 * 0600, directories with 0700.
 *
 * Errors come back as a code and, when err is not NULL, as English text in
 * err (err_cap bytes, always NUL-terminated) naming the path and the
 * system's reason, e.g. "rename /var/lib/mcphub/.state.json.tmp.41 to
 * /var/lib/mcphub/state.json: No space left on device".  The document's
 * content is never quoted.  System errors map to codes as: ENOENT
 * MCPHUB_E_NOTFOUND, ENOSPC/EDQUOT/EMFILE/ENFILE MCPHUB_E_FULL, ENOMEM
 * MCPHUB_E_NOMEM, anything else (EACCES, EROFS, EIO, ...) MCPHUB_E_INVAL.
 *
 * Thread safety: a handle must not be used by two threads at once; no
 * global mutable state; no internal locks.  (There is no handle; one
 * process should own a state directory, calls for different names may run
 * in parallel.) */
#ifndef MCPHUB_STATEFILE_H
#define MCPHUB_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MCPHUB_STATEFILE_MAX_NAME 200                 /* bytes of a name */
#define MCPHUB_STATEFILE_MAX_DEFAULT (16u * 1024 * 1024) /* read bound when max is 0 */

/* Replace dir/name with len bytes of data (borrowed for the call; may hold
 * any bytes).  dir must exist.  Returns 0, MCPHUB_E_INVAL (bad argument or
 * name, or a system error), MCPHUB_E_NOTFOUND (dir missing), MCPHUB_E_FULL
 * (disk or quota full), MCPHUB_E_TOOBIG (path too long).  On failure
 * the temporary file is removed and dir/name is unchanged, except when
 * only the last step, flushing the directory, failed: the new document is
 * then in place but may not survive a power loss. */
MCPHUB_API int mcphub_statefile_write(const char *dir, const char *name, const char *data,
                                      size_t len, char *err, size_t err_cap);

/* Read dir/name whole.  *data gets a copy with a NUL byte after the len
 * bytes (convenient for JSON text); caller frees *data with free(3).  max
 * bounds the size (0: MCPHUB_STATEFILE_MAX_DEFAULT).  Returns 0,
 * MCPHUB_E_NOTFOUND (no such file: a first start), MCPHUB_E_TOOBIG (larger
 * than max), MCPHUB_E_NOMEM, MCPHUB_E_INVAL (bad argument, not a regular
 * file, a system error).  On failure *data is NULL and *len 0. */
MCPHUB_API int mcphub_statefile_read(const char *dir, const char *name, char **data,
                                     size_t *len, size_t max, char *err, size_t err_cap);

/* Make dir ready at start: create it and missing parents (mode 0700,
 * like mkdir -p; existing ones are left as they are), check that it is a
 * directory where files can be created (by creating and removing one),
 * and remove temporary files ".<name>.tmp.<digits>" left by a crash.
 * Call it before the first write, while no other process writes there.
 * Returns 0, MCPHUB_E_INVAL (bad argument, not a directory, not writable,
 * a system error), MCPHUB_E_FULL, MCPHUB_E_TOOBIG (path too long). */
MCPHUB_API int mcphub_statefile_prepare_dir(const char *dir, char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif
#endif
