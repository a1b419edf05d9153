/* libmcphub-cluster: umbrella header — includes every public header.
 *
 * The I/O-free core: config, registry, affinity, balancer, scheduler,
 * coordinator, wire, catalog, agent, jsonrpc, sse, mux, linebuf, backoff.
 * The I/O edges: loop, process, http_server, http_client, mcp_http, runner,
 * worker.  See libmcphub-cluster(3). */
#ifndef MCPHUB_MCPHUB_H
#define MCPHUB_MCPHUB_H

#include "version.h"
#include "common.h"
#include "types.h"

#include "affinity.h"
#include "agent.h"
#include "auth.h"
#include "backoff.h"
#include "balancer.h"
#include "catalog.h"
#include "config.h"
#include "coordinator.h"
#include "jsonrpc.h"
#include "linebuf.h"
#include "metrics.h"
#include "mux.h"
#include "registry.h"
#include "scheduler.h"
#include "sse.h"
#include "wire.h"

#include "http_client.h"
#include "http_server.h"
#include "loop.h"
#include "mcp_client.h"
#include "mcp_http.h"
#include "process.h"
#include "statefile.h"
#include "runner.h"
#include "worker.h"

#endif
