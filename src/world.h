/*
 * world.h - stopping every other thread of the process with its registers
 * captured, for the reachability scan, and letting them go again.
 *
 * A real-time signal is sent to each thread (tgkill); its handler records
 * the interrupted stack pointer, general registers and thread pointer, then
 * parks on a futex until world_resume.  Interrupted system calls restart
 * (SA_RESTART) or return EINTR exactly as they would for any signal handler.
 * Threads that do not answer within the timeout (the signal blocked, say) are
 * reported as unresponsive, with their stack pointer read from
 * /proc/self/task/TID/syscall when they sit in a system call.
 */
#ifndef LEAKSCOPE_WORLD_H
#define LEAKSCOPE_WORLD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WORLD_REGS 23              /* the general registers of x86-64's mcontext (NGREG) */

struct stopped_thread {
    pid_t tid;
    int answered;              /* 0: did not stop in time; sp may still be known (0 if not) */
    uintptr_t sp;
    uintptr_t tcb;             /* thread pointer: static TLS lies around it */
    uintptr_t regs[WORLD_REGS];
};

struct world {
    struct stopped_thread *threads;
    size_t count;
    size_t unresponsive;
    int signal;                /* the signal used */
};

/*
 * Stop every thread except the caller and `also_skip` (0 for none).  The
 * caller must hold no lock a thread could need to reach a safe point other
 * than ones it is willing to wait on.  Returns 0, or -1 if no signal could be
 * installed (nothing is stopped then).
 */
int world_stop(struct world *w, pid_t also_skip, int timeout_ms);
void world_resume(struct world *w);

pid_t world_gettid(void);

#endif
