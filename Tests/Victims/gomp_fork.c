/* OpenMP in the parent, then fork, then OpenMP in the child: the child's libgomp still believes
 * in the parent's thread pool and waits for threads that do not exist in it.
 * Prints "ready <parent pid> <child pid>". */
#define _GNU_SOURCE
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static double work(void) {
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) num_threads(4)
    for (int i = 0; i < 1000; i++) sum += i * 0.5;
    return sum;
}

int main(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    double before = work();
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        double again = work();  /* hangs */
        printf("child finished: %f\n", again);
        _exit(0);
    }
    printf("ready %d %d\n", (int)getpid(), (int)child);
    fflush(stdout);
    (void)before;
    for (;;) waitpid(child, NULL, 0);
}
