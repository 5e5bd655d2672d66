/* Benchmark victim for Scripts/bench: a shallow tree of PROCS processes (the root and
 * PROCS-1 children), each with THREADS threads (the main thread included), all blocked for
 * good. Extra threads block in turn in a condition-variable wait (futex), a pipe read and a
 * long sleep; a child's main thread waits in pause(), the root's in wait(). Children die with
 * the root (PR_SET_PDEATHSIG), and the benchmark kills every process by PID anyway.
 *
 * usage: sleepers PROCS THREADS      (prints "ready" on stdout once every child is forked)
 * build: cc -O2 -pthread -o sleepers sleepers.c
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int pipe_fds[2];

static void *blocked(void *arg) {
    long kind = (long)arg % 3;
    if (kind == 0) {
        pthread_mutex_lock(&lock);
        for (;;) pthread_cond_wait(&never, &lock);   /* nobody signals it */
    } else if (kind == 1) {
        char byte;
        for (;;) if (read(pipe_fds[0], &byte, 1) < 0) pause();   /* nobody writes */
    } else {
        for (;;) sleep(3600);
    }
    return NULL;
}

/* Each process makes its own pipe, so a pipe's only holder is the process that reads it. */
static void start_threads(int count) {
    if (pipe(pipe_fds) != 0) { perror("pipe"); exit(1); }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < count; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, blocked, (void *)i) != 0) { perror("pthread_create"); exit(1); }
    }
    pthread_attr_destroy(&attr);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: sleepers PROCS THREADS\n"); return 64; }
    int procs = atoi(argv[1]), threads = atoi(argv[2]);
    if (procs < 1 || threads < 1) { fprintf(stderr, "sleepers: PROCS and THREADS must be >= 1\n"); return 64; }
    pid_t root = getpid();
    for (int i = 1; i < procs; i++) {
        pid_t child = fork();                    /* before any thread: a clean fork */
        if (child < 0) { perror("fork"); return 1; }
        if (child == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != root) _exit(1);     /* the root is already gone */
            start_threads(threads - 1);
            for (;;) pause();
        }
    }
    start_threads(threads - 1);
    printf("ready\n");
    fflush(stdout);
    for (;;) if (wait(NULL) < 0) pause();        /* no child left: block anyway */
}
