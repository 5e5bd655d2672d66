/* An OpenMP team where thread 0 never reaches the barrier: the other thread waits in libgomp's
 * barrier for good. Prints "ready <pid> <waiting tid>". */
#define _GNU_SOURCE
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    static volatile pid_t waiter;
    omp_set_num_threads(2);
#pragma omp parallel
    {
        if (omp_get_thread_num() == 0) {
            while (!waiter) usleep(1000);
            printf("ready %d %d\n", (int)getpid(), (int)waiter);
            fflush(stdout);
            for (;;) pause();
        }
        waiter = gettid();
#pragma omp barrier
    }
    return 0;
}
