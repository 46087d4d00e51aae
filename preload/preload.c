/*
 * preload.c - libleakscope.so's interposition layer: the allocation and
 * mapping functions the program calls, forwarded to the real ones and
 * reported to the engine.  No policy lives here.
 *
 * Rules (DESIGN.md, "hot path"):
 *  - the real functions are found with dlsym(RTLD_NEXT); while dlsym runs it
 *    may call calloc, which a static bootstrap buffer serves;
 *  - a thread-local guard lets allocations made by leakscope itself pass
 *    through untracked;
 *  - a block leaves the live table before the real free/realloc can hand its
 *    address to another thread, never after.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena.h"
#include "engine.h"
#include "sysmon.h"
#include "unwind.h"

#define EXPORT __attribute__((visibility("default")))

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    int (*madvise)(void *, size_t, int);
    int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    int (*dlclose)(void *);
    int (*sigprocmask)(int, const sigset_t *, sigset_t *);
} real;

/* ---- bootstrap: memory for dlsym before the real calloc is known ---- */

#define BOOTSTRAP_BYTES (64 * 1024)
static _Alignas(64) unsigned char bootstrap[BOOTSTRAP_BYTES];
static size_t bootstrap_used;

static int is_bootstrap(const void *p)
{
    return (const unsigned char *)p >= bootstrap && (const unsigned char *)p < bootstrap + BOOTSTRAP_BYTES;
}

/* A 16-byte header before each block keeps its size for realloc. */
static void *bootstrap_alloc(size_t size)
{
    size_t need = (size + 16 + 15) & ~(size_t)15;
    size_t at = __atomic_fetch_add(&bootstrap_used, need, __ATOMIC_RELAXED);

    if (at + need > BOOTSTRAP_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(bootstrap + at, &size, sizeof size);
    return bootstrap + at + 16;     /* static storage: already zero */
}

static size_t bootstrap_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - 16, sizeof size);
    return size;
}

static void resolve_real(void)
{
    engine_guard++;
#define FIND(name) real.name = dlsym(RTLD_NEXT, #name)
    FIND(calloc);
    FIND(malloc);
    FIND(free);
    FIND(realloc);
    FIND(reallocarray);
    FIND(posix_memalign);
    FIND(aligned_alloc);
    FIND(memalign);
    FIND(valloc);
    FIND(pvalloc);
    FIND(mmap);
    FIND(munmap);
    FIND(mremap);
    FIND(madvise);
    FIND(pthread_create);
    FIND(sigaction);
    FIND(dlclose);
    FIND(sigprocmask);
#undef FIND
    engine_guard--;
}

/*
 * Tracking is on for this call: we are not inside leakscope.  Blocks
 * allocated before the engine is initialised are recorded too (without a
 * stack), so the reachability scan sees every block a pointer may live in.
 */
static inline int tracking(void)
{
    return __builtin_expect(engine_guard == 0, 1);
}

/*
 * Set in a fork child: its background thread is started by its first tracked
 * allocation, not inside the fork handler, so a child that only execs never
 * pays for a thread.
 */
static int sysmon_pending;

static void start_pending_sysmon(void)
{
    if (__atomic_exchange_n(&sysmon_pending, 0, __ATOMIC_ACQ_REL))
        sysmon_restart_in_child();
}

static inline void record(void *p, size_t size)
{
    if (p && tracking() && engine_sampled(size)) {
        if (__builtin_expect(__atomic_load_n(&sysmon_pending, __ATOMIC_RELAXED), 0))
            start_pending_sysmon();
        engine_guard++;
        engine_record_alloc(p, size);
        engine_guard--;
    }
}

/* ---- the heap ---- */

EXPORT void *malloc(size_t size)
{
    if (__builtin_expect(!real.malloc, 0)) {
        if (engine_guard)
            return bootstrap_alloc(size);
        resolve_real();
    }
    void *p = real.malloc(size);
    record(p, size);
    return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (__builtin_expect(!real.calloc, 0)) {
        if (engine_guard) {
            size_t total;
            if (__builtin_mul_overflow(n, size, &total)) {
                errno = ENOMEM;
                return NULL;
            }
            return bootstrap_alloc(total);
        }
        resolve_real();
    }
    void *p = real.calloc(n, size);
    record(p, n * size);
    return p;
}

EXPORT void free(void *p)
{
    if (!p || is_bootstrap(p))
        return;
    if (__builtin_expect(!real.free, 0))
        resolve_real();
    if (tracking() && live_may_hold((uintptr_t)p)) {
        engine_guard++;
        engine_forget(p, NULL);
        engine_guard--;
    }
    real.free(p);
}

/* realloc of a bootstrap block: move it into the real heap. */
static void *realloc_bootstrap(void *p, size_t size)
{
    size_t old = bootstrap_size(p);
    void *q = malloc(size);
    if (q)
        memcpy(q, p, old < size ? old : size);
    return q;
}

EXPORT void *realloc(void *p, size_t size)
{
    if (p && is_bootstrap(p))
        return realloc_bootstrap(p, size);
    if (__builtin_expect(!real.realloc, 0)) {
        if (engine_guard)
            return bootstrap_alloc(size);
        resolve_real();
    }
    if (!tracking())
        return real.realloc(p, size);

    struct live_block old;
    int was_tracked = 0;
    if (p && live_may_hold((uintptr_t)p)) {
        engine_guard++;
        was_tracked = engine_forget(p, &old);
        engine_guard--;
    }
    void *q = real.realloc(p, size);
    engine_guard++;
    if (q) {
        if (engine_sampled(size))
            engine_record_alloc(q, size);      /* the realloc call site owns the result */
    } else if (was_tracked && size != 0) {
        engine_restore(&old);                  /* failed: the old block is still there */
    }
    engine_guard--;
    return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;

    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (__builtin_expect(!real.posix_memalign, 0))
        resolve_real();
    int rc = real.posix_memalign(out, align, size);
    if (rc == 0)
        record(*out, size);
    return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (__builtin_expect(!real.aligned_alloc, 0))
        resolve_real();
    void *p = real.aligned_alloc(align, size);
    record(p, size);
    return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
    if (__builtin_expect(!real.memalign, 0))
        resolve_real();
    void *p = real.memalign(align, size);
    record(p, size);
    return p;
}

EXPORT void *valloc(size_t size)
{
    if (__builtin_expect(!real.valloc, 0))
        resolve_real();
    void *p = real.valloc(size);
    record(p, size);
    return p;
}

EXPORT void *pvalloc(size_t size)
{
    if (__builtin_expect(!real.pvalloc, 0))
        resolve_real();
    void *p = real.pvalloc(size);
    record(p, size);
    return p;
}

/* ---- mappings ---- */

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    if (__builtin_expect(!real.mmap, 0)) {
        if (engine_guard)
            return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, offset);
        resolve_real();
    }
    void *p = real.mmap(addr, len, prot, flags, fd, offset);
    if (p != MAP_FAILED && tracking()) {
        engine_guard++;
        engine_record_mmap(p, len, flags);
        engine_guard--;
    }
    return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    return mmap(addr, len, prot, flags, fd, offset);
}

EXPORT int munmap(void *addr, size_t len)
{
    if (__builtin_expect(!real.munmap, 0)) {
        if (engine_guard)
            return (int)syscall(SYS_munmap, addr, len);
        resolve_real();
    }
    if (tracking()) {
        engine_guard++;
        engine_record_munmap(addr, len);
        engine_guard--;
    }
    return real.munmap(addr, len);
}

EXPORT void *mremap(void *old_addr, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;

    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (__builtin_expect(!real.mremap, 0))
        resolve_real();
    if (!tracking())
        return real.mremap(old_addr, old_len, new_len, flags, new_addr);

    struct live_block saved;
    engine_guard++;
    int tracked = engine_mremap_begin(old_addr, old_len, &saved);
    engine_guard--;
    void *p = real.mremap(old_addr, old_len, new_len, flags, new_addr);
    int saved_errno = errno;
    engine_guard++;
    engine_mremap_end(tracked, &saved, old_addr, p, new_len);
    engine_guard--;
    errno = saved_errno;
    return p;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
    if (__builtin_expect(!real.madvise, 0))
        resolve_real();
    int rc = real.madvise(addr, len, engine_ready ? engine_madvise_advice(advice) : advice);
    if (rc == 0 && tracking()) {
        engine_guard++;
        engine_record_madvise(len, advice);
        engine_guard--;
    }
    return rc;
}

/* ---- threads: creation sites, and which threads ever end ---- */

struct thread_start {
    void *(*start)(void *);
    void *arg;
    uint32_t site;
};

static void thread_ended(void *arg)
{
    struct thread_start *ts = arg;
    uint32_t site = ts->site;

    engine_guard++;
    meta_free(ts, sizeof *ts);
    engine_thread_exited(site);
    engine_guard--;
}

static void *thread_trampoline(void *arg)
{
    struct thread_start *ts = arg;
    void *result;

    /* Runs on return, pthread_exit and cancellation alike. */
    pthread_cleanup_push(thread_ended, ts);
    result = ts->start(ts->arg);
    pthread_cleanup_pop(1);
    return result;
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    if (__builtin_expect(!real.pthread_create, 0))
        resolve_real();
    if (!tracking() || !engine_ready)
        return real.pthread_create(thread, attr, start, arg);
    engine_guard++;
    struct thread_start *ts = meta_alloc(sizeof *ts);
    if (ts) {
        ts->start = start;
        ts->arg = arg;
        ts->site = engine_thread_started();
    }
    engine_guard--;
    if (!ts)
        return real.pthread_create(thread, attr, start, arg);
    int rc = real.pthread_create(thread, attr, thread_trampoline, ts);
    if (rc != 0) {
        engine_guard++;
        engine_thread_exited(ts->site);
        meta_free(ts, sizeof *ts);
        engine_guard--;
    }
    return rc;
}

/* ---- unloaded code: other code may later occupy its addresses ---- */

EXPORT int dlclose(void *handle)
{
    if (__builtin_expect(!real.dlclose, 0))
        resolve_real();
    int rc = real.dlclose(handle);
    if (rc == 0)
        engine_code_unloaded();
    return rc;
}

/* ---- signals: the program's own handlers always win ---- */

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (__builtin_expect(!real.sigaction, 0))
        resolve_real();
    if (act && engine_ready && engine_guard == 0) {
        engine_guard++;
        sysmon_program_takes_signal(sig);   /* leakscope moves off sig before the program's handler lands */
        engine_guard--;
    }
    return real.sigaction(sig, act, old);
}

/*
 * libunwind's calls while leakscope's unwinder holds every signal (unwind.c): blocking all of them
 * again, or setting back the mask this answered with, would change nothing, so no system call.
 */
EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    if (unwind_signals_held) {
        if (old)
            sigfillset(old);
        return 0;
    }
    if (__builtin_expect(!real.sigprocmask, 0))
        resolve_real();
    return real.sigprocmask(how, set, old);
}

/* signal() reaches glibc's sigaction internally, past our symbol: BSD semantics, as glibc's signal(). */
EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction act, old;

    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    act.sa_flags = SA_RESTART;
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* ---- life cycle ---- */

static void print_warning(const char *line, void *arg)
{
    (void)arg;
    sysmon_log("%s", line);
}

/*
 * LEAKSCOPE_FOLLOW_EXEC=0: take libleakscope.so out of LD_PRELOAD so programs
 * this one execs run untraced.  The string is edited in place: no allocation,
 * and the environment block stays the one the program was given.
 */
static void stop_following_exec(void)
{
    char *value = getenv("LD_PRELOAD");
    Dl_info self;

    if (!value || !dladdr((void *)stop_following_exec, &self) || !self.dli_fname)
        return;
    const char *base = strrchr(self.dli_fname, '/');
    base = base ? base + 1 : self.dli_fname;

    char *out = value, *in = value;
    while (*in) {
        while (*in == ':' || *in == ' ')
            in++;
        char *word = in;
        while (*in && *in != ':' && *in != ' ')
            in++;
        size_t len = (size_t)(in - word);
        if (len == 0)
            continue;
        const char *slash = memrchr(word, '/', len);
        const char *word_base = slash ? slash + 1 : word;
        size_t base_len = len - (size_t)(word_base - word);
        if (base_len == strlen(base) && memcmp(word_base, base, base_len) == 0)
            continue;                               /* ourselves: drop */
        if (out != value)
            *out++ = ':';
        memmove(out, word, len);
        out += len;
    }
    *out = '\0';
}

static void fork_prepare(void) { engine_fork_prepare(); }
static void fork_parent(void) { engine_fork_parent(); }
static void fork_child(void)
{
    engine_fork_child();
    sysmon_fork_child();
    __atomic_store_n(&sysmon_pending, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void leakscope_start(void)
{
    if (!real.malloc)
        resolve_real();
    engine_guard++;
    engine_init(print_warning);
    if (!engine_options()->follow_exec)
        stop_following_exec();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    sysmon_start();
    engine_guard--;
}

__attribute__((destructor)) static void leakscope_stop(void)
{
    engine_guard++;
    sysmon_final_dump();
    engine_guard--;
}
