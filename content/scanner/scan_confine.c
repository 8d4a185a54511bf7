/*
 * scan_confine.c - what postern-scan may do once started: rlimits (address space, no core
 * files, file size, descriptors), no privileges (started as root, it becomes the owner of
 * the database directory -- clamav on Debian -- or, when root owns that, keeps uid 0 with
 * every capability dropped and SECBIT_NOROOT locked; then no_new_privs), and a
 * seccomp filter: plain BPF installed with prctl, an allow-list of the system calls the
 * scanner needs (files of the database and its temporary directory, memory, threads, the
 * socket to the daemon); anything else kills the process. No network, no exec, no ptrace.
 * Called once by main before any database or message is read.
 */
#include "content/scanner/scanner.h"

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#define NOFILE_MAX  1024

static const int allowed[] = {
    SYS_read, SYS_write, SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev, SYS_close,
    SYS_fstat, SYS_newfstatat, SYS_statfs, SYS_fstatfs, SYS_statx, SYS_stat, SYS_lstat, SYS_lseek, SYS_openat,
    SYS_open, SYS_getdents64, SYS_fcntl, SYS_ftruncate, SYS_fsync, SYS_fdatasync,
    SYS_mkdir, SYS_mkdirat, SYS_unlink, SYS_unlinkat, SYS_rmdir, SYS_rename, SYS_renameat,
    SYS_access, SYS_faccessat, SYS_faccessat2, SYS_readlink, SYS_getcwd, SYS_umask,
    SYS_fchmod, SYS_chmod, SYS_dup, SYS_dup2, SYS_dup3,
    SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_brk,
    SYS_futex, SYS_clone, SYS_clone3, SYS_set_robust_list, SYS_rseq, SYS_exit,
    SYS_exit_group, SYS_sched_yield, SYS_sched_getaffinity, SYS_nanosleep,
    SYS_clock_nanosleep, SYS_clock_gettime, SYS_gettimeofday, SYS_time, SYS_getrandom,
    SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_rt_sigaction, SYS_getpid, SYS_gettid,
    SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid, SYS_uname, SYS_sysinfo,
    SYS_getrusage, SYS_times, SYS_prlimit64, SYS_tgkill, SYS_sigaltstack,
    SYS_recvmsg, SYS_sendmsg, SYS_sendto, SYS_recvfrom, SYS_poll, SYS_ppoll,
};

static int install_seccomp(bool trap)
{
    enum { HEAD = 4, NALLOW = sizeof(allowed) / sizeof(allowed[0]) };
    struct sock_filter f[HEAD + NALLOW + 2];
    struct sock_fprog prog;
    size_t i;

    /* Wrong architecture, or the x32 ABI: kill. */
    f[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                        offsetof(struct seccomp_data, arch));
    f[1] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[3] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                        offsetof(struct seccomp_data, nr));
    for (i = 0; i < NALLOW; i++)    /* match: jump to the ALLOW at the end */
        f[HEAD + i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                   (unsigned)allowed[i],
                                                   (unsigned char)(NALLOW - i), 0);
    f[HEAD + NALLOW] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                    trap ? SECCOMP_RET_TRAP
                                                         : SECCOMP_RET_KILL_PROCESS);
    f[HEAD + NALLOW + 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog.len = (unsigned short)(sizeof(f) / sizeof(f[0]));
    prog.filter = f;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* --seccomp-trap: name the forbidden call (async-signal-safe), then die. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    char msg[64] = "postern-scan: forbidden syscall ";
    size_t n = strlen(msg);
    int nr = si->si_syscall, d = 1000;

    (void)uc;
    for (; d > 0; d /= 10)
        msg[n++] = (char)('0' + (nr / d) % 10);
    msg[n++] = '\n';
    (void)!write(2, msg, n);
    signal(sig, SIG_DFL);
    _exit(159);
}

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = { v, v };

    return setrlimit(res, &rl);
}

static int drop_caps(void)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    int cap;

    for (cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    /* 0x2f: SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP and their locks, SECBIT_KEEP_CAPS_LOCKED */
    if (prctl(PR_SET_SECUREBITS, 0x2f, 0, 0, 0) < 0)
        return -1;
    memset(d, 0, sizeof(d));
    return (int)syscall(SYS_capset, &h, d);
}

static int drop_root(const char *db_dir)
{
    struct stat st;

    if (stat(db_dir, &st) == 0 && st.st_uid != 0) {
        if (setgroups(0, NULL) < 0 || setresgid(st.st_gid, st.st_gid, st.st_gid) < 0 ||
            setresuid(st.st_uid, st.st_uid, st.st_uid) < 0)
            return -1;
        scan_log(LOG_INFO, "running as uid %ld (the owner of %s)", (long)st.st_uid, db_dir);
        return 0;
    }
    if (setgroups(0, NULL) < 0 || drop_caps() < 0)
        return -1;
    scan_log(LOG_INFO, "running as uid 0 without any capability (%s is owned by root)",
             db_dir);
    return 0;
}

int scan_confine(const struct scan_opts *o)
{
    unsigned long long fsize = (o->max_scansize > o->max_filesize ? o->max_scansize
                                                                  : o->max_filesize) * 2;

    signal(SIGXFSZ, SIG_IGN);          /* an oversized temp file fails the write instead */
    unsigned long long max_memory = o->max_memory;

#ifdef __SANITIZE_ADDRESS__
    max_memory = 0;                    /* AddressSanitizer reserves terabytes of shadow */
#endif
    if (set_limit(RLIMIT_CORE, 0) < 0 || set_limit(RLIMIT_NOFILE, NOFILE_MAX) < 0 ||
        set_limit(RLIMIT_FSIZE, fsize) < 0 ||
        (max_memory > 0 && set_limit(RLIMIT_AS, max_memory) < 0)) {
        scan_log(LOG_ERR, "setrlimit: %s", strerror(errno));
        return -1;
    }
    if (geteuid() == 0 || getuid() == 0) {
        if (drop_root(o->db_dir) < 0) {
            scan_log(LOG_ERR, "dropping root: %s", strerror(errno));
            return -1;
        }
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        scan_log(LOG_ERR, "prctl: %s", strerror(errno));
        return -1;
    }
    if (o->no_seccomp) {
        scan_log(LOG_WARNING, "running without the seccomp filter (--no-seccomp)");
        return 0;
    }
    if (o->seccomp_trap) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &sa, NULL);
    }
    if (install_seccomp(o->seccomp_trap) < 0) {
        scan_log(LOG_ERR, "seccomp filter: %s", strerror(errno));
        return -1;
    }
    return 0;
}
