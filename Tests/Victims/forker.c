/* Benchmark victim for Scripts/bench's `forkhazard run` figure: a parent that starts 2 sleeping
 * threads, then forks N children as fast as it can (or with a pause between forks), so that every
 * fork is a fork from a multi-threaded parent. In mode `exit` each child calls _exit(0) at once,
 * without exec (each one is a fork-from-threaded event for `forkhazard run`); in mode `exec` each
 * child execs /bin/true at once (nothing to report: the overhead of following the forks alone).
 * The parent reaps children as it goes (so they do not pile up as zombies) and all of them before
 * it exits 0 (1 if a child failed, e.g. /bin/true could not be executed).
 *
 * DELAY_MS (default 0) is a wait after the threads start and before the first fork, so that a
 * tool that follows the command has subscribed to process events by then.
 *
 * When it is done it prints one line of JSON on stdout:
 *   {"mode": "exit", "forks": N, "forkSeconds": S, "totalSeconds": T, "childFailures": F,
 *    "reaped": R, "belowThreadTids": B, "threadTids": [T1, T2], "parent": P, "children": [PID, ...]}
 * forkSeconds: from just before the first fork to just after the last (CLOCK_MONOTONIC);
 * totalSeconds: from the start of main to the last reap; children: every child's PID, in fork order;
 * belowThreadTids: children whose PID was lower than a TID of the parent's sleeping threads, which
 * happens only when the kernel's PID counter wrapped around (kernel.pid_max) during the run.
 *
 * usage: forker exit|exec N [PAUSE_MICROSECONDS [DELAY_MS]]
 * build: cc -O2 -pthread -o forker forker.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t thread_tids[2];
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cond = PTHREAD_COND_INITIALIZER;
static int started = 0;

static void *sleeper(void *arg) {
    long index = (long)arg;
    pthread_setname_np(pthread_self(), index == 0 ? "sleeper-1" : "sleeper-2");
    pthread_mutex_lock(&started_lock);
    thread_tids[index] = (pid_t)syscall(SYS_gettid);
    started++;
    pthread_cond_broadcast(&started_cond);
    pthread_mutex_unlock(&started_lock);
    for (;;) sleep(3600);
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static long reaped = 0, failures = 0;

static void reap(int options) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, options)) > 0 || (pid < 0 && errno == EINTR)) {
        if (pid < 0) continue;
        reaped++;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5 || (strcmp(argv[1], "exit") != 0 && strcmp(argv[1], "exec") != 0)) {
        fprintf(stderr, "usage: forker exit|exec N [PAUSE_MICROSECONDS [DELAY_MS]]\n");
        return 64;
    }
    int exec_child = strcmp(argv[1], "exec") == 0;
    long count = atol(argv[2]);
    long pause_us = argc >= 4 ? atol(argv[3]) : 0;
    long delay_ms = argc >= 5 ? atol(argv[4]) : 0;
    if (count < 1 || pause_us < 0 || delay_ms < 0) {
        fprintf(stderr, "forker: N must be >= 1, the pause and the delay >= 0\n");
        return 64;
    }
    pid_t *children = malloc(count * sizeof *children);
    if (!children) { perror("malloc"); return 1; }
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);           /* dies with whoever started it */
    if (getppid() != parent) return 1;

    double begun = now();
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < 2; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, sleeper, (void *)i) != 0) { perror("pthread_create"); return 1; }
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&started_lock);
    while (started < 2) pthread_cond_wait(&started_cond, &started_lock);
    pthread_mutex_unlock(&started_lock);
    pid_t highest_tid = thread_tids[0] > thread_tids[1] ? thread_tids[0] : thread_tids[1];

    struct timespec pause = {pause_us / 1000000, (pause_us % 1000000) * 1000};
    struct timespec delay = {delay_ms / 1000, (delay_ms % 1000) * 1000000};
    if (delay_ms > 0) nanosleep(&delay, NULL);
    long below = 0;
    double first = now();
    for (long i = 0; i < count; i++) {
        if (i > 0 && pause_us > 0) nanosleep(&pause, NULL);
        pid_t child = fork();
        if (child < 0) {
            if (errno == EAGAIN) { reap(0); i--; continue; }   /* too many children: reap, retry */
            perror("fork");
            return 1;
        }
        if (child == 0) {
            if (exec_child) {
                execl("/bin/true", "true", (char *)NULL);
                _exit(127);
            }
            _exit(0);
        }
        children[i] = child;
        if (child < highest_tid) below++;
        reap(WNOHANG);
    }
    double last = now();
    while (reaped < count) {
        long before = reaped;
        reap(0);
        if (reaped == before) break;            /* ECHILD: nothing left */
    }
    printf("{\"mode\": \"%s\", \"forks\": %ld, \"forkSeconds\": %.6f, \"totalSeconds\": %.6f, "
           "\"childFailures\": %ld, \"reaped\": %ld, \"belowThreadTids\": %ld, \"threadTids\": [%d, %d], "
           "\"parent\": %d, \"children\": [",
           argv[1], count, last - first, now() - begun, failures, reaped, below,
           thread_tids[0], thread_tids[1], (int)getpid());
    for (long i = 0; i < count; i++) printf(i ? ", %d" : "%d", (int)children[i]);
    printf("]}\n");
    fflush(stdout);
    return failures == 0 && reaped == count ? 0 : 1;
}
