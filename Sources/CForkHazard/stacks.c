#define _GNU_SOURCE
#include "CForkHazardStacks.h"
#include "CForkHazard.h"

#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libunwind-ptrace.h>

#ifndef PTRACE_SEIZE
#define PTRACE_SEIZE 0x4206
#define PTRACE_INTERRUPT 0x4207
#endif

/* ---- ptrace ---------------------------------------------------------------------------- */

static int ret_errno(long r) { return r < 0 ? -errno : 0; }

int fh_ptrace_seize(pid_t tid) { return ret_errno(ptrace(PTRACE_SEIZE, tid, NULL, NULL)); }
int fh_ptrace_interrupt(pid_t tid) { return ret_errno(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL)); }
int fh_ptrace_detach(pid_t tid) { return ret_errno(ptrace(PTRACE_DETACH, tid, NULL, NULL)); }

static uint64_t now_micros(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int fh_wait_stop(pid_t tid, int timeout_ms) {
    uint64_t start = now_micros();
    uint64_t deadline = start + (uint64_t)timeout_ms * 1000u;
    long pause_ns = 10000;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) {
            uint64_t now = now_micros();
            if (now >= deadline) return -ETIMEDOUT;
            /* A stop comes within tens of microseconds: yield for the first half millisecond
             * (a sleep would take at least the timer slack, 50 us, per thread), then sleep a
             * little longer each time. */
            if (now - start < 500) {
                sched_yield();
                continue;
            }
            struct timespec pause = {0, pause_ns};
            nanosleep(&pause, NULL);
            if (pause_ns < 1000000) pause_ns *= 2;
            continue;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) return -ESRCH;
        if (WIFSTOPPED(status)) {
            /* The interrupt's stop is PTRACE_EVENT_STOP. A signal-delivery stop comes first if a
             * signal was pending: let the signal through with PTRACE_LISTEN-free restart and keep
             * waiting for the event stop. */
            if ((status >> 16) == PTRACE_EVENT_STOP) return 0;
            int sig = WSTOPSIG(status);
            if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0) return -errno;
            if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) return -errno;
        }
    }
}

#define FH_MAX_PENDING 256
static volatile pid_t pending[FH_MAX_PENDING];

void fh_pending_add(pid_t tid) {
    for (int i = 0; i < FH_MAX_PENDING; i++)
        if (__sync_bool_compare_and_swap(&pending[i], 0, tid)) return;
}

/* Detaches `tid` if it has stopped; 1 when it is released or gone, 0 while it has not stopped. */
static int release_if_stopped(pid_t tid) {
    int status = 0;
    pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
    if (r == 0) return 0;
    if (r == tid && WIFSTOPPED(status)) {
        int event = status >> 16;
        /* A signal-delivery stop: the signal goes on with the detach, so it is not lost. */
        long sig = event == 0 ? WSTOPSIG(status) : 0;
        ptrace(PTRACE_DETACH, tid, NULL, (void *)sig);
    }
    return 1;  /* detached, exited, or no longer ours (ECHILD) */
}

int fh_release_pending(void) {
    int left = 0;
    for (int i = 0; i < FH_MAX_PENDING; i++) {
        pid_t tid = pending[i];
        if (!tid) continue;
        if (release_if_stopped(tid)) __sync_bool_compare_and_swap(&pending[i], tid, 0);
        else left++;
    }
    return left;
}

int fh_get_registers(pid_t tid, fh_registers *out) {
    memset(out, 0, sizeof *out);
#if defined(__x86_64__)
    struct user_regs_struct r;
    struct iovec iov = {&r, sizeof r};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) return -errno;
    /* libunwind's x86_64 numbering (DWARF order). */
    uint64_t v[] = {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp,
                    r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip};
    memcpy(out->regs, v, sizeof v);
    out->sp = r.rsp;
    out->pc = r.rip;
#elif defined(__aarch64__)
    struct user_regs_struct r; /* glibc's sys/user.h: regs[31], sp, pc, pstate */
    struct iovec iov = {&r, sizeof r};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) return -errno;
    for (int i = 0; i < 31; i++) out->regs[i] = r.regs[i];
    out->regs[31] = r.sp;
    out->regs[32] = r.pc;
    out->sp = r.sp;
    out->pc = r.pc;
#else
#error "unsupported architecture"
#endif
    return 0;
}

/* ---- release on signals ---------------------------------------------------------------- */

#define FH_MAX_STOPPED 64
static volatile pid_t stopped[FH_MAX_STOPPED];
static volatile pid_t tracer_tid;

void fh_stopped_add(pid_t tid) {
    tracer_tid = gettid();
    for (int i = 0; i < FH_MAX_STOPPED; i++)
        if (__sync_bool_compare_and_swap(&stopped[i], 0, tid)) return;
}

void fh_stopped_remove(pid_t tid) {
    for (int i = 0; i < FH_MAX_STOPPED; i++)
        if (__sync_bool_compare_and_swap(&stopped[i], tid, 0)) return;
}

static volatile pid_t forward_pid;
static volatile sig_atomic_t received;

void fh_set_forward_pid(pid_t pid) { forward_pid = pid; }

int fh_take_received_signal(void) {
    int sig = received;
    received = 0;
    return sig;
}

/* Releases every stopped thread; then forwards the signal to the command being run, or dies of it.
 * A signal the terminal sent (si_code SI_KERNEL) reached the command's process group already and is
 * not sent twice. */
static void on_signal(int sig, siginfo_t *info, void *context) {
    (void)context;
    /* Only the tracing thread may detach: send the signal there if it landed elsewhere. */
    if (tracer_tid && gettid() != tracer_tid) {
        syscall(SYS_tgkill, getpid(), tracer_tid, sig);
        return;
    }
    for (int i = 0; i < FH_MAX_STOPPED; i++) {
        pid_t tid = stopped[i];
        if (tid) {
            /* A seized thread that has not reached its stop yet cannot be detached: wait a little
             * for it, never for good (a thread asleep in the kernel may not stop for hours); the
             * kernel detaches it when this process exits, or fh_release_pending does later. */
            if (ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0 && errno == ESRCH) {
                int released = 0;
                for (int tries = 0; tries < 100 && !released; tries++) {
                    released = release_if_stopped(tid);
                    if (!released) {
                        struct timespec pause = {0, 500000};
                        nanosleep(&pause, NULL);
                    }
                }
                if (!released) fh_pending_add(tid);
            }
            stopped[i] = 0;
        }
    }
    fh_release_pending();
    if (forward_pid > 0) {
        if (!info || info->si_code != SI_KERNEL) kill(forward_pid, sig);
        received = sig;
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void fh_install_release_handlers(void) {
    static int installed;
    if (__sync_lock_test_and_set(&installed, 1)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        /* Leave a signal alone that the user chose to ignore. */
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(signals[i], &sa, NULL);
    }
}

/* ---- unwinding from a copy -------------------------------------------------------------- */

#define PAGE_CACHE 64
struct page { uint64_t base; int valid; uint8_t bytes[4096]; };

/* An executable mapping and, once read, the binary search table of its module's .eh_frame_hdr. */
struct code_mapping {
    uint64_t start, end, base;
    int state; /* 0: not read yet; 1: `table` holds it; -1: none usable */
    unw_dyn_info_t table;
};

struct fh_unwinder {
    pid_t pid;
    unw_addr_space_t space;
    void *upt;
    struct code_mapping *code;
    size_t code_count;
    /* the current unwind's inputs */
    const fh_registers *registers;
    const uint8_t *stack;
    uint64_t stack_base;
    size_t stack_len;
    struct page pages[PAGE_CACHE];
};

/* `len` bytes at `address` of process `pid`, with process_vm_readv: the unwinder's own reads of
 * code and unwind tables, made from libunwind's accessors (Swift reads through its one wrapper of
 * the call). Returns the bytes read, or -1 with errno set. */
static ssize_t read_memory(pid_t pid, uint64_t address, void *buffer, size_t len) {
    struct iovec local = {buffer, len};
    struct iovec remote = {(void *)(uintptr_t)address, len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/* libunwind passes the UPT handle, not ours, to the accessors _UPT_find_proc_info drives. */
static __thread fh_unwinder *current;

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg) {
    (void)as; (void)arg;
    fh_unwinder *u = current;
    if (write || !u) return -UNW_EINVAL;
    if (addr >= u->stack_base && addr + sizeof *val <= u->stack_base + u->stack_len) {
        memcpy(val, u->stack + (addr - u->stack_base), sizeof *val);
        return 0;
    }
    uint64_t base = addr & ~(uint64_t)4095;
    if ((addr & 4095) + sizeof *val > 4096) {
        /* Straddles two pages: read directly. */
        return read_memory(u->pid, addr, val, sizeof *val) == (ssize_t)sizeof *val ? 0 : -UNW_EINVAL;
    }
    struct page *p = &u->pages[(base >> 12) % PAGE_CACHE];
    if (!p->valid || p->base != base) {
        if (read_memory(u->pid, base, p->bytes, sizeof p->bytes) != (ssize_t)sizeof p->bytes) {
            p->valid = 0;
            return read_memory(u->pid, addr, val, sizeof *val) == (ssize_t)sizeof *val ? 0 : -UNW_EINVAL;
        }
        p->base = base;
        p->valid = 1;
    }
    memcpy(val, p->bytes + (addr - base), sizeof *val);
    return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg) {
    (void)as; (void)arg;
    fh_unwinder *u = current;
    if (write || !u || reg < 0 || reg >= FH_MAX_REGS) return -UNW_EBADREG;
#if defined(__x86_64__)
    if (reg > UNW_X86_64_RIP) return -UNW_EBADREG;
#endif
    *val = u->registers->regs[reg];
    return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write, void *arg) {
    (void)as; (void)reg; (void)val; (void)write; (void)arg;
    return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg) {
    (void)as; (void)c; (void)arg;
    return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len, unw_word_t *off, void *arg) {
    (void)as; (void)addr; (void)buf; (void)len; (void)off; (void)arg;
    return -UNW_ENOINFO; /* symbols come from the ELF files, with their sizes */
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg) {
    (void)as; (void)addr; (void)arg;
    return -UNW_ENOINFO;
}

/* libunwind's search of a remote binary search table (exported, declared in no public header). */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
                                              unw_proc_info_t *pi, int need_unwind_info, void *arg);

/* Bytes of a DW_EH_PE-encoded value of fixed size; -1 for a variable size (LEB128) or unknown. */
static int encoded_size(uint8_t encoding) {
    if (encoding == 0xff) return 0; /* DW_EH_PE_omit */
    switch (encoding & 0x0f) {
    case 0x00: return 8;               /* absptr (64-bit targets) */
    case 0x02: case 0x0a: return 2;    /* udata2, sdata2 */
    case 0x03: case 0x0b: return 4;    /* udata4, sdata4 */
    case 0x04: case 0x0c: return 8;    /* udata8, sdata8 */
    default: return -1;
    }
}

/* Reads the module's program headers from the process's memory at `m->base` and, from its
 * PT_GNU_EH_FRAME, the .eh_frame_hdr's table, as libunwind's own search does from the file:
 * version 1, a table of (datarel sdata4 start, datarel sdata4 FDE) pairs, `table_len` in words,
 * data-relative to the header. Anything else leaves the module to libunwind's search. */
static int read_table(fh_unwinder *u, struct code_mapping *m) {
    Elf64_Ehdr eh;
    if (read_memory(u->pid, m->base, &eh, sizeof eh) != (ssize_t)sizeof eh) return -1;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) return -1;
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256) return -1;
    Elf64_Phdr ph[256];
    size_t bytes = (size_t)eh.e_phnum * sizeof(Elf64_Phdr);
    if (eh.e_phoff > UINT64_MAX - m->base) return -1;
    if (read_memory(u->pid, m->base + eh.e_phoff, ph, bytes) != (ssize_t)bytes) return -1;
    const Elf64_Phdr *first = NULL, *frame = NULL;
    uint64_t low = UINT64_MAX, high = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) {
            if (ph[i].p_vaddr < low) low = ph[i].p_vaddr;
            if (ph[i].p_vaddr + ph[i].p_memsz > high) high = ph[i].p_vaddr + ph[i].p_memsz;
            if (ph[i].p_offset == 0 && !first) first = &ph[i];
        } else if (ph[i].p_type == PT_GNU_EH_FRAME) {
            frame = &ph[i];
        }
    }
    /* The first mapping is the PT_LOAD at file offset 0: the load bias follows. */
    if (!first || !frame || low >= high || first->p_vaddr > m->base) return -1;
    uint64_t bias = m->base - first->p_vaddr;
    uint64_t header = bias + frame->p_vaddr;
    uint8_t h[4 + 8 + 8];
    if (read_memory(u->pid, header, h, sizeof h) != (ssize_t)sizeof h) return -1;
    int frame_pointer = encoded_size(h[1]), count_size = encoded_size(h[2]);
    /* version 1; the table DW_EH_PE_datarel | DW_EH_PE_sdata4, as libunwind requires. */
    if (h[0] != 1 || h[3] != 0x3b || frame_pointer < 0 || count_size <= 0) return -1;
    uint64_t count = 0;
    memcpy(&count, h + 4 + frame_pointer, (size_t)count_size); /* little-endian */
    if (count == 0 || count > (1u << 24)) return -1;
    memset(&m->table, 0, sizeof m->table);
    m->table.start_ip = bias + low;
    m->table.end_ip = bias + high;
    m->table.format = UNW_INFO_FORMAT_REMOTE_TABLE;
    m->table.u.rti.segbase = header;
    m->table.u.rti.table_data = header + 4 + (uint64_t)frame_pointer + (uint64_t)count_size;
    m->table.u.rti.table_len = count * 8 / sizeof(unw_word_t);
    return 1;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need, void *arg) {
    fh_unwinder *u = current;
    for (size_t i = 0; u && i < u->code_count; i++) {
        struct code_mapping *m = &u->code[i];
        if (ip < m->start || ip >= m->end) continue;
        if (m->state == 0) m->state = read_table(u, m);
        if (m->state == 1 && ip >= m->table.start_ip && ip < m->table.end_ip) {
            int r = UNW_OBJ(dwarf_search_unwind_table)(as, ip, &m->table, pi, need, arg);
            if (r != -UNW_ENOINFO) return r;
        }
        break;
    }
    /* Not in the table (or none): libunwind's search, which also reads .debug_frame. */
    return _UPT_find_proc_info(as, ip, pi, need, arg);
}

int fh_unwinder_add_code(fh_unwinder *u, uint64_t start, uint64_t end, uint64_t base) {
    if (!u) return -EINVAL;
    if (u->code_count == FH_MAX_CODE_MAPPINGS) return -ENOSPC;
    if (!u->code) {
        u->code = malloc(FH_MAX_CODE_MAPPINGS * sizeof *u->code);  /* each entry is set whole when added */
        if (!u->code) return -ENOMEM;
    }
    u->code[u->code_count++] = (struct code_mapping){.start = start, .end = end, .base = base};
    return 0;
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg) {
    _UPT_put_unwind_info(as, pi, arg);
}

fh_unwinder *fh_unwinder_create(pid_t pid) {
    /* Not zeroed whole: the page cache (most of its size) is marked empty at each unwind. */
    fh_unwinder *u = malloc(sizeof *u);
    if (!u) return NULL;
    memset(u, 0, offsetof(fh_unwinder, pages));
    static unw_accessors_t accessors = {
        .find_proc_info = find_proc_info,
        .put_unwind_info = put_unwind_info,
        .get_dyn_info_list_addr = get_dyn_info_list_addr,
        .access_mem = access_mem,
        .access_reg = access_reg,
        .access_fpreg = access_fpreg,
        .resume = resume,
        .get_proc_name = get_proc_name,
    };
    u->pid = pid;
    u->space = unw_create_addr_space(&accessors, 0);
    u->upt = _UPT_create(pid);  /* only for its ELF image cache: no ptrace calls are made */
    if (!u->space || !u->upt) {
        fh_unwinder_destroy(u);
        return NULL;
    }
    unw_set_caching_policy(u->space, UNW_CACHE_GLOBAL);
    return u;
}

void fh_unwinder_destroy(fh_unwinder *u) {
    if (!u) return;
    if (u->upt) _UPT_destroy(u->upt);
    if (u->space) unw_destroy_addr_space(u->space);
    free(u->code);
    free(u);
}

int fh_unwind(fh_unwinder *u, const fh_registers *registers, const uint8_t *stack,
              uint64_t stack_base, size_t stack_len, uint64_t *ips, int max_frames) {
    if (!u || max_frames < 1) return -EINVAL;
    u->registers = registers;
    u->stack = stack;
    u->stack_base = stack_base;
    u->stack_len = stack_len;
    for (int i = 0; i < PAGE_CACHE; i++) u->pages[i].valid = 0;  /* writable memory may have changed */
    current = u;
    unw_cursor_t cursor;
    int n = 0;
    ips[n++] = registers->pc;
    if (unw_init_remote(&cursor, u->space, u->upt) == 0) {
        unw_word_t last_sp = 0;
        (void)unw_get_reg(&cursor, UNW_REG_SP, &last_sp);
        while (n < max_frames && unw_step(&cursor) > 0) {
            unw_word_t ip = 0, sp = 0;
            if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
            /* No progress: the same return address on the same stack frame. (The same address
             * alone is every level of a recursion.) */
            if (unw_get_reg(&cursor, UNW_REG_SP, &sp) < 0 || (ip == ips[n - 1] && sp == last_sp)) break;
            last_sp = sp;
            ips[n++] = ip;
        }
    }
    current = NULL;
    return n;
}
