/* A container's device policy in the kernel's terms: lines for the cgroup v1 devices controller
 * and a BPF_PROG_TYPE_CGROUP_DEVICE program for cgroup v2. libc only (the monitor links it). */
#pragma once
#include <linux/bpf.h>
#include <stddef.h>

#include "../util/error.h"
#include "cgroup.h"

/* The letters of an access, in the order "rwm". */
void tug_device_access_text(unsigned access, char buf[4]);

/* The devices.allow/devices.deny lines of a rule, each under 64 bytes: "a" for "a *:* rwm",
 * else "c 1:3 rwm"; an 'a' rule narrower than that takes one line per type. Returns how many
 * lines (1 or 2) were written. */
size_t tug_device_rule_v1(const tug_device_rule *r, char lines[2][64]);

/* The cgroup v2 program for the rules: the last matching rule decides, no match denies.
 * *ret_prog is malloc'd. Fails (EINVAL) on a rule the program cannot express. */
int tug_device_bpf_build(const tug_device_rule *rules, size_t n, struct bpf_insn **ret_prog,
                         size_t *ret_len, tug_error **err);

/* Load a program into the kernel; its fd (O_CLOEXEC) or -1. */
int tug_device_bpf_load(const struct bpf_insn *prog, size_t len, tug_error **err);

/* Load the program and attach it to the cgroup2 group dfd (opened O_RDONLY|O_DIRECTORY), then
 * detach the device programs that group had before (a reused group keeps no stale policy). */
int tug_device_bpf_attach(int dfd, const struct bpf_insn *prog, size_t len, tug_error **err);
