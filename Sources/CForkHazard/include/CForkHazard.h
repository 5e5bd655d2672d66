#ifndef CFORKHAZARD_H
#define CFORKHAZARD_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "CForkHazardStacks.h"

/// The demo's victim: names a few threads, lets one hold a pthread mutex, forks while it does, and
/// has the child lock that mutex (which it can never get). The parent waits for the child. Writes
/// the child's PID, as a decimal line, to `ready_fd` once the child is about to lock. Never returns.
void fh_demo_victim(int ready_fd) __attribute__((noreturn));



/// Whether processes `a` and `b` share one address space (kcmp KCMP_VM): 1 yes (a vfork child, a
/// posix_spawn in flight), 0 no, or -errno.
int fh_same_memory(pid_t a, pid_t b);

/// The receive (`send` 0) or send timeout of socket `fd` of process `pid` (SO_RCVTIMEO or
/// SO_SNDTIMEO), in seconds, 0 for none: read from a copy of the fd (pidfd_getfd), which is closed
/// at once; the target is not touched. 0 or -errno.
int fh_socket_timeout(pid_t pid, int fd, int send, double *seconds);

/// Makes this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER): orphaned descendants
/// are re-parented to it instead of to init. 0 or -errno.
int fh_set_child_subreaper(void);

/// `pipe2(fds, O_CLOEXEC)`.
int fh_pipe_cloexec(int fds[2]);

/// Has malloc keep freed memory for reuse (mallopt: no block gets a mapping of its own below
/// 32 MiB, the heap is trimmed only past 256 MiB free at its top, and grows 16 MiB at a time).
void fh_keep_freed_memory(void);
#endif
