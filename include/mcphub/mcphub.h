/* libmcphub-cluster: umbrella header — includes every module's header. */
#ifndef MCPHUB_MCPHUB_H
#define MCPHUB_MCPHUB_H

#include "version.h"
#include "common.h"
#include "types.h"

#endif
