#define _GNU_SOURCE
#include "CForkHazard.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t fh_read_memory(pid_t pid, uint64_t remote_address, void *buffer, size_t len) {
    struct iovec local = {buffer, len};
    struct iovec remote = {(void *)(uintptr_t)remote_address, len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

int fh_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

