/* Confinement shared by tug-dns and tug-proxy: see confine.h. */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define NOBODY 65534

int tug_confine_root(const char *dir)
{
    if (chroot(dir) < 0 || chdir("/") < 0)
        return -1;
    return 0;
}

int tug_confine_root_empty(const char *parent)
{
    char dir[4096];
    if (snprintf(dir, sizeof(dir), "%s/.tug-empty-XXXXXX", parent) >= (int)sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdtemp(dir) == NULL)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = errno;
    rmdir(dir);
    if (fd < 0) {
        errno = e;
        return -1;
    }
    /* the removed directory stays the working one, and "." names it still */
    int r = fchdir(fd) < 0 || chroot(".") < 0 ? -1 : 0;
    e = errno;
    close(fd);
    errno = e;
    return r;
}

int tug_confine_drop_privileges(bool to_nobody)
{
    for (int c = 0; c <= 63; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -1;
    if (to_nobody && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                      setresuid(NOBODY, NOBODY, NOBODY) < 0))
        return -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{0}};
    if (syscall(SYS_capset, &h, d) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return 0;
}

#define MAX_RULES 512

int tug_seccomp_allow_only(const struct sock_filter *allow, size_t n)
{
#ifdef TUG_CONFINE_AUDIT_ARCH
    static const struct sock_filter head[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TUG_CONFINE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    };
    const size_t nh = sizeof(head) / sizeof(head[0]);
    struct sock_filter f[MAX_RULES];
    if (n > MAX_RULES - nh - 1) {
        errno = E2BIG;
        return -1;
    }
    memcpy(f, head, sizeof(head));
    memcpy(f + nh, allow, n * sizeof(*allow));
    f[nh + n] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    struct sock_fprog prog = {.len = (unsigned short)(nh + n + 1), .filter = f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
    (void)allow;
    (void)n;
    return 0; /* an architecture this filter does not know: the root and no capabilities only */
#endif
}
