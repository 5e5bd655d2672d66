#ifndef CFORKHAZARD_STACKS_H
#define CFORKHAZARD_STACKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ptrace, fixed-argument (glibc's ptrace is variadic). Each returns 0 or -errno. Only
 * PTRACE_SEIZE + PTRACE_INTERRUPT are used: never PTRACE_ATTACH, never SIGSTOP. */
int fh_ptrace_seize(pid_t tid);
int fh_ptrace_interrupt(pid_t tid);
int fh_ptrace_detach(pid_t tid);

/* Waits at most `timeout_ms` for `tid` to enter its ptrace stop. Returns 0 when stopped, -ESRCH
 * when it exited instead, -ETIMEDOUT when it did not stop (a thread asleep in the kernel that
 * cannot be interrupted: a vfork parent, a read in D state), another -errno on failure. A thread
 * that timed out is still seized: give it to fh_pending_add. */
int fh_wait_stop(pid_t tid, int timeout_ms);

/* Seized threads that have not stopped yet, so cannot be detached yet (PTRACE_DETACH needs the
 * stop). fh_release_pending detaches each one that has stopped since (passing on a signal it
 * stopped for) and forgets each that exited; it returns how many are still pending. If this
 * process exits first, the kernel detaches them. */
void fh_pending_add(pid_t tid);
int fh_release_pending(void);

/* The general registers, as libunwind numbers them, and the stack and instruction pointers. */
#define FH_MAX_REGS 34
typedef struct {
    uint64_t regs[FH_MAX_REGS];
    uint64_t sp;
    uint64_t pc;
} fh_registers;

/* PTRACE_GETREGSET(NT_PRSTATUS) of a stopped thread. 0 or -errno. */
int fh_get_registers(pid_t tid, fh_registers *out);

/* Threads this process has seized and not yet released; a SIGINT, SIGTERM or SIGHUP to the tool
 * releases them before the tool dies. `fh_install_release_handlers` is idempotent. */
void fh_install_release_handlers(void);

/* With a PID set, those signals are forwarded to it (the command `forkhazard run` started) instead
 * of ending the tool; the last one forwarded is returned, once, by fh_take_received_signal. */
void fh_set_forward_pid(pid_t pid);
int fh_take_received_signal(void);
void fh_stopped_add(pid_t tid);
void fh_stopped_remove(pid_t tid);

/* Unwinds a thread from a copy of its registers and of its stack [stack_base, stack_base +
 * stack_len), after the thread was released: libunwind with accessors that read the copy, and
 * the process's memory (code, unwind tables) with process_vm_readv. Writes up to `max_frames`
 * instruction pointers, innermost first, and returns how many (at least 1), or -errno. */
typedef struct fh_unwinder fh_unwinder;
fh_unwinder *fh_unwinder_create(pid_t pid);
void fh_unwinder_destroy(fh_unwinder *unwinder);
/* Names an executable mapping [start, end) of the process whose module's ELF header is mapped at
 * `base` (its file's first mapping; for the vDSO, its own start). Unwind tables for addresses in
 * it are then found from that module's PT_GNU_EH_FRAME in the process's memory, read once per
 * unwinder; addresses in no mapping named, or in a module without that table, are left to
 * libunwind's own search (which reads /proc/PID/maps and maps the file, each time the module
 * changes). Returns 0, or -ENOSPC past FH_MAX_CODE_MAPPINGS. */
#define FH_MAX_CODE_MAPPINGS 1024
int fh_unwinder_add_code(fh_unwinder *unwinder, uint64_t start, uint64_t end, uint64_t base);
int fh_unwind(fh_unwinder *unwinder, const fh_registers *registers, const uint8_t *stack,
              uint64_t stack_base, size_t stack_len, uint64_t *ips, int max_frames);

#endif
