/* errno_helpers.c - portable tests for "would block" and "timed out". */
#include "internal.h"

#include <errno.h>

bool tp_io_blocked(int err)
{
    if (err == EAGAIN || err == EWOULDBLOCK)
        return true;
#ifdef WSAEWOULDBLOCK
    if (err == WSAEWOULDBLOCK)
        return true;
#endif
    return false;
}

bool tp_io_timedout(int err)
{
    if (err == ETIMEDOUT)
        return true;
#ifdef WSAETIMEDOUT
    if (err == WSAETIMEDOUT)
        return true;
#endif
    return false;
}
