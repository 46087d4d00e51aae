/*
 * world.h - stopping every other thread of the process with its registers
 * captured, for the reachability scan, and letting them go again.
 *
 * First choice, as LeakSanitizer does: a tracer task that shares our memory
 * (clone CLONE_VM) seizes each thread with ptrace, interrupts it and reads
 * its registers.  A ptrace stop is invisible to the program: a thread in
 * nanosleep, poll or read carries on as if nothing happened.
 *
 * Fallback, when ptrace is refused (a debugger already traces the program,
 * or a seccomp policy forbids it): a real-time signal whose handler records
 * the registers and parks on a futex.  Interrupted system calls then restart
 * (SA_RESTART) or return EINTR as for any signal handler; sleeps may end
 * early.  Threads that do not answer within the timeout (the signal
 * blocked) are reported as unresponsive, with their stack pointer read from
 * /proc/self/task/TID/syscall when they sit in a system call.
 */
#ifndef LEAKSCOPE_WORLD_H
#define LEAKSCOPE_WORLD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WORLD_REGS 27              /* x86-64 general registers (struct user_regs_struct) */

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
    int signal;                /* the signal used (0 with ptrace) */
    const char *method;        /* "ptrace" or "signal" */
};

/*
 * Stop every thread except the caller and `also_skip` (0 for none).  The
 * caller must hold no lock a thread could need to reach a safe point other
 * than ones it is willing to wait on.  Returns 0, or -1 if no signal could be
 * installed (nothing is stopped then).
 */
int world_stop(struct world *w, pid_t also_skip, int timeout_ms, int method);   /* method: STOP_* (options.h) */
void world_resume(struct world *w);

pid_t world_gettid(void);

/* Whether sig is the signal the fallback stop method uses. */
int world_owns_signal(int sig);
/* The program takes sig: the fallback method picks another signal next time. */
void world_program_takes_signal(int sig);

#endif
