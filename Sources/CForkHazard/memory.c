#define _GNU_SOURCE
#include "CForkHazard.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

int fh_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

void fh_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
}


#include <linux/kcmp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int fh_same_memory(pid_t a, pid_t b) {
    long same = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
    if (same < 0) return -errno;
    return same == 0 ? 1 : 0;
}

int fh_socket_timeout(pid_t pid, int fd, int send, double *seconds) {
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return -errno;
    int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int saved = errno;
    close(pidfd);
    if (copy < 0) return -saved;
    struct timeval tv = {0, 0};
    socklen_t len = sizeof tv;
    int got = getsockopt(copy, SOL_SOCKET, send ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, &len);
    saved = errno;
    close(copy);
    if (got < 0) return -saved;
    *seconds = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    return 0;
}

#include <sys/prctl.h>

int fh_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : -errno;
}
