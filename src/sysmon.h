/*
 * sysmon.h - leakscope's background thread ("leakscope" in ps/top).
 *
 * The only place where slow work happens inside the process.  The snapshot
 * signal's handler only posts a semaphore; the thread wakes, writes a dump
 * and a short summary (to stderr or LEAKSCOPE_LOG).  The exit dump is written
 * by sysmon_final_dump from the library destructor.
 */
#ifndef LEAKSCOPE_SYSMON_H
#define LEAKSCOPE_SYSMON_H

/* Install the snapshot signal handler and start the thread. 0 on success. */
int sysmon_start(void);
/* fork(): the child has no sysmon thread; start a new one (call with the guard set). */
void sysmon_restart_in_child(void);
/* Write the exit dump and its one-line notice. */
void sysmon_final_dump(void);
/* In a fork child, before anything else: state the background thread may have held at the fork. */
void sysmon_fork_child(void);
/*
 * The program is installing its own disposition for sig (through sigaction
 * or signal).  If leakscope uses sig, the program gets it: leakscope moves
 * that use to a free real-time signal, saying so once (or stops using a
 * signal for it).  Called before the program's sigaction takes effect.
 */
void sysmon_program_takes_signal(int sig);
/* The signals leakscope handles now (0 when none): snapshot, scavenge. */
int sysmon_snapshot_signal(void);

/* Print a line prefixed "leakscope[pid]: " to the log (stderr by default). */
void sysmon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
