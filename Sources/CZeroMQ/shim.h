#ifndef C_ZEROMQ_SHIM_H
#define C_ZEROMQ_SHIM_H

// libzmq's stable API (no ZMQ_BUILD_DRAFT_API: Debian's libzmq 4.3.4 is built without it).
#include <zmq.h>

#endif
