#define _GNU_SOURCE
#include "CForkHazard.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started = PTHREAD_COND_INITIALIZER;
static int holding = 0;

static void *holder(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "registry-flush");
    pthread_mutex_lock(&registry_lock);          /* held for good: a slow flush */
    pthread_mutex_lock(&started_lock);
    holding = 1;
    pthread_cond_signal(&started);
    pthread_mutex_unlock(&started_lock);
    for (;;) sleep(3600);
    return NULL;
}

static void *idler(void *arg) {
    pthread_setname_np(pthread_self(), (const char *)arg);
    for (;;) pause();
    return NULL;
}

void fh_demo_victim(int ready_fd) {
    /* Never outlive the tool that started us. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pthread_t t;
    pthread_create(&t, NULL, idler, "metrics");
    pthread_create(&t, NULL, holder, NULL);
    pthread_mutex_lock(&started_lock);
    while (!holding) pthread_cond_wait(&started, &started_lock);
    pthread_mutex_unlock(&started_lock);

    pid_t child = fork();                         /* fork while "registry-flush" holds the lock */
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "fork-child");
        pthread_mutex_lock(&registry_lock);       /* its owner does not exist here: hangs forever */
        _exit(0);
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)child);
    if (ready_fd >= 0 && write(ready_fd, line, (size_t)n) < 0) { /* the tool went away */ }
    if (ready_fd >= 0) close(ready_fd);
    int status;
    for (;;) {
        if (waitpid(child, &status, 0) == child) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }
}
