/*
 * world.c - stop-the-world by ptrace, or by signal (see world.h).
 *
 * The tracer runs on its own small stack in our address space but is not a
 * thread of the process, so it can ptrace the process's threads.  It makes
 * raw system calls only.  It has exit signal 0: the program's waitpid(-1)
 * never sees it and no SIGCHLD is sent.
 *
 * The signal handler is installed on first use and never removed: a thread
 * that had the signal blocked may take it long after the scan, and the
 * default action of a real-time signal would kill the process.  Outside a
 * scan the handler returns at once.
 */
#define _GNU_SOURCE
#include "world.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "arena.h"
#include "options.h"

#define MAX_ROUNDS 16          /* re-list threads until no new one appears */

static int stop_signal;                    /* 0 until installed */
static _Atomic int stop_active;
static _Atomic int resume_generation;
static _Atomic int claimed;                /* slots taken by threads entering the handler */
static _Atomic int arrived;                /* slots completely written */
static struct stopped_thread *_Atomic slots;
static _Atomic size_t slot_capacity;

pid_t world_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static long futex(_Atomic int *addr, int op, int value, const struct timespec *timeout)
{
    return syscall(SYS_futex, addr, op, value, timeout, NULL, 0);
}

static void on_stop_signal(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    ucontext_t *uc = context;

    (void)sig;
    (void)info;
    if (!atomic_load(&stop_active)) {
        errno = saved_errno;
        return;
    }
    int generation = atomic_load(&resume_generation);
    int slot = atomic_fetch_add(&claimed, 1);
    struct stopped_thread *all = atomic_load(&slots);
    if (all && (size_t)slot < atomic_load(&slot_capacity)) {
        struct stopped_thread *me = &all[slot];
        me->tid = world_gettid();
        me->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
        me->tcb = (uintptr_t)pthread_self();
        for (int i = 0; i < NGREG && i < WORLD_REGS; i++)
            me->regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
        me->answered = 1;
    }
    atomic_fetch_add(&arrived, 1);                  /* after the slot is written */
    futex(&arrived, FUTEX_WAKE_PRIVATE, 1, NULL);
    while (atomic_load(&resume_generation) == generation)
        futex(&resume_generation, FUTEX_WAIT_PRIVATE, generation, NULL);
    errno = saved_errno;
}

int world_owns_signal(int sig)
{
    return sig != 0 && sig == stop_signal;
}

void world_program_takes_signal(int sig)
{
    if (sig != 0 && sig == stop_signal)
        stop_signal = 0;          /* the program's handler replaces ours; the next stop picks another */
}

/* Pick a real-time signal nobody handles, from the top down, and handle it. */
static int install_handler(void)
{
    if (stop_signal)
        return 0;
    for (int sig = SIGRTMAX - 1; sig >= SIGRTMIN + 4; sig--) {
        struct sigaction old, sa;
        if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_stop_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) == 0) {
            stop_signal = sig;
            return 0;
        }
    }
    return -1;
}

/* "/proc/PID/task" without snprintf (the tracer calls this too). */
static void task_dir(pid_t pid, char *out)
{
    char digits[16];
    int n = 0, len = 6;

    memcpy(out, "/proc/", 6);
    for (pid_t p = pid; p > 0; p /= 10)
        digits[n++] = (char)('0' + p % 10);
    while (n > 0)
        out[len++] = digits[--n];
    memcpy(out + len, "/task", 6);
}

/*
 * The thread ids of process pid (the caller's process: the tracer is another
 * process, so /proc/self would be wrong there), read with getdents64 (no
 * malloc); returns how many there are, storing at most max.
 */
static size_t list_threads(pid_t pid, pid_t *tids, size_t max)
{
    char buf[8192], path[64];
    size_t n = 0;

    task_dir(pid, path);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
                (void *)(buf + off);
            if (d->name[0] >= '0' && d->name[0] <= '9') {
                long tid = 0;
                for (const char *c = d->name; *c; c++)
                    tid = tid * 10 + (*c - '0');
                if (n < max)
                    tids[n] = (pid_t)tid;
                n++;                   /* counts every thread, stores at most max */
            }
            off += d->reclen;
        }
    }
    syscall(SYS_close, fd);
    return n;
}

/* For a thread that did not stop: its stack pointer, if it waits in a system call. */
static uintptr_t sp_from_proc(pid_t tid)
{
    char path[64], buf[512];
    int len = 0;

    memcpy(path, "/proc/self/task/", 16);
    len = 16;
    char num[16];
    int nd = 0;
    for (pid_t t = tid; t > 0; t /= 10)
        num[nd++] = (char)('0' + t % 10);
    while (nd > 0)
        path[len++] = num[--nd];
    memcpy(path + len, "/syscall", 9);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "NR arg1 ... arg6 sp pc": the second-to-last field is the stack pointer. */
    char *fields[10];
    int nf = 0;
    for (char *p = buf; *p && nf < 10;) {
        while (*p == ' ' || *p == '\n')
            p++;
        if (!*p)
            break;
        fields[nf++] = p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
    }
    if (nf != 9 || fields[7][0] != '0' || fields[7][1] != 'x')
        return 0;
    uintptr_t sp = 0;
    for (const char *c = fields[7] + 2; (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'); c++)
        sp = sp * 16 + (uintptr_t)(*c <= '9' ? *c - '0' : *c - 'a' + 10);
    return sp;
}

static int contains(const pid_t *list, size_t n, pid_t tid)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == tid)
            return 1;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stop_by_signal(struct world *w, pid_t also_skip, int timeout_ms)
{
    static pid_t *signaled;
    static size_t signaled_cap;
    pid_t self = world_gettid();
    size_t nsignaled = 0;

    if (install_handler() != 0)
        return -1;
    w->signal = stop_signal;
    w->method = "signal";

    /* Room for every thread, with slack for ones being created now. */
    pid_t probe[1];
    size_t want = list_threads(getpid(), probe, 0);    /* just the count */
    want = want * 2 + 64;
    if (want > signaled_cap) {
        size_t bytes_slots = want * sizeof(struct stopped_thread);
        pid_t *fresh_signaled = meta_map(want * sizeof(pid_t));
        struct stopped_thread *fresh_slots = meta_map(bytes_slots);
        if (!fresh_signaled || !fresh_slots)
            return -1;
        /* The old arrays are never unmapped: a late thread may still write its slot. */
        signaled = fresh_signaled;
        signaled_cap = want;
        atomic_store(&slots, fresh_slots);
        atomic_store(&slot_capacity, want);
    }
    struct stopped_thread *all = atomic_load(&slots);
    memset(all, 0, atomic_load(&slot_capacity) * sizeof *all);
    atomic_store(&claimed, 0);
    atomic_store(&arrived, 0);
    atomic_store(&stop_active, 1);

    pid_t pid = getpid();
    int64_t deadline = now_ms() + timeout_ms;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        pid_t current[4096];
        size_t n = list_threads(pid, current, sizeof current / sizeof *current);
        if (n > sizeof current / sizeof *current)
            n = sizeof current / sizeof *current;
        size_t before = nsignaled;
        for (size_t i = 0; i < n; i++) {
            pid_t tid = current[i];
            if (tid == self || tid == also_skip || contains(signaled, nsignaled, tid) || nsignaled >= signaled_cap)
                continue;
            if (syscall(SYS_tgkill, pid, tid, stop_signal) == 0)
                signaled[nsignaled++] = tid;
        }
        /* Wait for everyone signalled so far, or the deadline. */
        for (;;) {
            int got = atomic_load(&arrived);
            if ((size_t)got >= nsignaled)
                break;
            int64_t left = deadline - now_ms();
            if (left <= 0)
                break;
            struct timespec ts = { left / 1000, (left % 1000) * 1000000 };
            futex(&arrived, FUTEX_WAIT_PRIVATE, got, &ts);
        }
        if (nsignaled == before || now_ms() >= deadline)
            break;                     /* no new thread appeared, or out of time */
    }

    /* Collect: answered slots first, then the threads that never answered. */
    size_t answered = (size_t)atomic_load(&arrived);
    if (answered > atomic_load(&slot_capacity))
        answered = atomic_load(&slot_capacity);
    w->threads = all;
    w->count = answered;
    for (size_t i = 0; i < nsignaled && w->count < atomic_load(&slot_capacity); i++) {
        int found = 0;
        for (size_t k = 0; k < answered && !found; k++)
            found = all[k].answered && all[k].tid == signaled[i];
        if (found)
            continue;
        struct stopped_thread *t = &all[w->count++];
        t->tid = signaled[i];
        t->answered = 0;
        t->sp = sp_from_proc(signaled[i]);
        w->unresponsive++;
    }
    return 0;
}

/* ---- ptrace ---- */

enum tracer_phase { TRACER_STARTING, TRACER_STOPPED, TRACER_RESUME, TRACER_DONE };

struct tracer_job {
    pid_t process, scanner, skip;
    _Atomic int phase;
    int refused;               /* the first attach was refused: use signals */
    struct stopped_thread *threads;
    size_t count, capacity;
    pid_t tracer;
    char *stack;
};

#define TRACER_STACK (64 * 1024)

static long ptrace_raw(long request, pid_t tid, void *addr, void *data)
{
    return syscall(SYS_ptrace, request, tid, addr, data);
}

/* Seize, interrupt and wait for tid; 0 when it is stopped, -1 when it is gone or refused. */
static int seize(pid_t tid)
{
    int status;

    if (ptrace_raw(PTRACE_SEIZE, tid, NULL, NULL) != 0)
        return -1;
    if (ptrace_raw(PTRACE_INTERRUPT, tid, NULL, NULL) != 0)
        return -1;
    for (;;) {
        long got = syscall(SYS_wait4, tid, &status, __WALL, NULL);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status))
            return -1;
        if (!WIFSTOPPED(status))
            continue;
        if ((status >> 16) == PTRACE_EVENT_STOP)
            return 0;
        /* A signal was on its way to the thread: deliver it and wait for our interrupt. */
        ptrace_raw(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(status));
    }
}

static int tracer_main(void *arg)
{
    struct tracer_job *job = arg;

    /* If the program dies while its threads are stopped, the tracer must not outlive it: it shares the
       program's memory and would keep all of it alive. */
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) != job->process)
        syscall(SYS_exit, 0);

    for (int round = 0; round < MAX_ROUNDS; round++) {
        pid_t current[4096];
        size_t n = list_threads(job->process, current, sizeof current / sizeof *current), added = 0;
        if (n > sizeof current / sizeof *current)
            n = sizeof current / sizeof *current;
        for (size_t i = 0; i < n && job->count < job->capacity; i++) {
            pid_t tid = current[i];
            int known = tid == job->scanner || tid == job->skip;
            for (size_t k = 0; k < job->count && !known; k++)
                known = job->threads[k].tid == tid;
            if (known)
                continue;
            if (seize(tid) != 0) {
                if (errno == EPERM && job->count == 0) {
                    job->refused = 1;
                    goto finish;
                }
                continue;                  /* it exited meanwhile */
            }
            struct user_regs_struct regs;
            struct stopped_thread *t = &job->threads[job->count++];
            memset(t, 0, sizeof *t);
            t->tid = tid;
            if (ptrace_raw(PTRACE_GETREGS, tid, NULL, &regs) == 0) {
                memcpy(t->regs, &regs, sizeof regs < sizeof t->regs ? sizeof regs : sizeof t->regs);
                t->sp = regs.rsp;
                t->tcb = regs.fs_base;
                t->answered = 1;
            }
            added++;
        }
        if (added == 0)
            break;                         /* no new thread appeared while we stopped the others */
    }
    atomic_store(&job->phase, TRACER_STOPPED);
    futex(&job->phase, FUTEX_WAKE, 1, NULL);
    while (atomic_load(&job->phase) != TRACER_RESUME) {
        struct timespec second = { 1, 0 };
        futex(&job->phase, FUTEX_WAIT, TRACER_STOPPED, &second);
        if (syscall(SYS_kill, job->process, 0) != 0)
            break;                         /* the program is gone: let go of what is left */
    }
finish:
    for (size_t i = 0; i < job->count; i++)
        ptrace_raw(PTRACE_DETACH, job->threads[i].tid, NULL, NULL);
    atomic_store(&job->phase, TRACER_DONE);
    futex(&job->phase, FUTEX_WAKE, 1, NULL);
    return 0;
}

static struct tracer_job job;

static int stop_by_ptrace(struct world *w, pid_t also_skip)
{
    pid_t probe[1];
    size_t want = list_threads(getpid(), probe, 0) * 2 + 64;

    if (want > slot_capacity) {
        struct stopped_thread *fresh = meta_map(want * sizeof *fresh);
        if (!fresh)
            return -1;
        atomic_store(&slots, fresh);       /* the old array is never unmapped (see stop_by_signal) */
        atomic_store(&slot_capacity, want);
    }
    if (!job.stack && !(job.stack = meta_map(TRACER_STACK)))
        return -1;
    job.process = getpid();
    job.scanner = world_gettid();
    job.skip = also_skip;
    job.refused = 0;
    job.count = 0;
    job.threads = atomic_load(&slots);
    job.capacity = atomic_load(&slot_capacity);
    atomic_store(&job.phase, TRACER_STARTING);

    /* Under Yama (ptrace_scope 1) a process may only trace its descendants unless it says otherwise. */
    int yama = prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0) == 0;
    job.tracer = clone(tracer_main, job.stack + TRACER_STACK, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED,
                       &job);
    if (job.tracer < 0) {
        if (yama)
            prctl(PR_SET_PTRACER, 0, 0, 0, 0);
        return -1;
    }
    int phase;
    while ((phase = atomic_load(&job.phase)) == TRACER_STARTING)
        futex(&job.phase, FUTEX_WAIT, TRACER_STARTING, NULL);
    if (yama)
        prctl(PR_SET_PTRACER, 0, 0, 0, 0);
    if (phase == TRACER_DONE) {            /* refused: reap the tracer, let the caller fall back */
        syscall(SYS_wait4, job.tracer, NULL, __WALL, NULL);
        return -1;
    }
    w->threads = job.threads;
    w->count = job.count;
    w->method = "ptrace";
    return 0;
}

int world_stop(struct world *w, pid_t also_skip, int timeout_ms, int method)
{
    int saved_errno = errno;             /* the tracer shares our thread pointer, hence errno */
    int rc = -1;

    memset(w, 0, sizeof *w);
    if (method != STOP_SIGNAL)
        rc = stop_by_ptrace(w, also_skip);
    if (rc != 0 && method != STOP_PTRACE)
        rc = stop_by_signal(w, also_skip, timeout_ms);
    errno = saved_errno;
    return rc;
}

void world_resume(struct world *w)
{
    int saved_errno = errno;

    if (w->method && strcmp(w->method, "ptrace") == 0) {
        atomic_store(&job.phase, TRACER_RESUME);
        futex(&job.phase, FUTEX_WAKE, 1, NULL);
        while (atomic_load(&job.phase) != TRACER_DONE)
            futex(&job.phase, FUTEX_WAIT, TRACER_RESUME, NULL);
        syscall(SYS_wait4, job.tracer, NULL, __WALL, NULL);
    } else {
        atomic_store(&stop_active, 0);
        atomic_fetch_add(&resume_generation, 1);
        futex(&resume_generation, FUTEX_WAKE_PRIVATE, 1 << 30, NULL);
    }
    errno = saved_errno;
}
