/* SIGUSR1 and SIGTERM ask a run to checkpoint and stop. The handler only
 * sets a flag; the trainer polls it at minibatch boundaries, where all ranks
 * agree on it with one reduction. */
#ifndef PLASTIC_SIGNALS_H
#define PLASTIC_SIGNALS_H

void pl_signals_install(void);
/* The signal number received (SIGUSR1 or SIGTERM), or 0. Stays set. */
int pl_signal_received(void);

#endif
