/* Stop requests by signal. Nothing but a flag is touched in the handler:
 * checkpointing needs MPI and HDF5, which are not async-signal-safe. A second
 * signal during the checkpoint just sets the flag again. */
#include "plastic/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received = 0;

static void on_signal(int sig) { received = sig; }

void pl_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* blocking I/O simply continues */
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int pl_signal_received(void) { return received; }
