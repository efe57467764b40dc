/* A container's devices: docker's default policy, --device and --device-cgroup-rule, and their
 * OCI form (linux.devices for the nodes, linux.resources.devices for the rules). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../util/error.h"
#include "cgroup.h"

/* A node the container's init creates (an OCI linux.devices entry). */
typedef struct tug_device_node {
    char *path;  /* absolute, inside the container */
    mode_t mode; /* S_IFCHR or S_IFBLK | permissions */
    dev_t rdev;
    uid_t uid;
    gid_t gid;
} tug_device_node;

/* docker's default policy: no device but null, zero, full, random, urandom, tty, console, ptmx,
 * the ptys and tun, and mknod of any node. */
const tug_device_rule *tug_device_rules_default(size_t *ret_n);

/* docker's --device-cgroup-rule text: "c 42:* rmw" (type a, b or c; access of r, w, m). */
int tug_device_rule_parse(const char *text, tug_device_rule *ret, tug_error **err);

/* docker's --device HOST[:CONTAINER][:PERMISSIONS] as HostConfig.Devices holds it:
 * {PathOnHost, PathInContainer, CgroupPermissions}. NULL with *err set when malformed. */
json_t *tug_device_mapping_parse(const char *spec, tug_error **err);

/* The OCI linux.devices and linux.resources.devices for a create request's HostConfig, the host's
 * nodes looked up now. Either output may be NULL: the call then only checks. */
int tug_devices_spec(json_t *host_config, json_t **ret_nodes, json_t **ret_rules, tug_error **err);

/* Back from an OCI spec's linux object for the runtime. Without linux.resources.devices (a spec
 * made before tug had a policy) the rules are docker's defaults, or allow-all when privileged. */
int tug_devices_from_spec(json_t *linux_, bool privileged, tug_device_rule **ret_rules,
                          size_t *ret_n_rules, tug_device_node **ret_nodes, size_t *ret_n_nodes,
                          tug_error **err);
void tug_device_nodes_free(tug_device_node *nodes, size_t n);

/* docker's --gpus VALUE (CSV: "all", a count, count=, device=, driver=, capabilities=,
 * options=) as the HostConfig.DeviceRequests entry docker makes of it; NULL with err set (docker's
 * words: "unexpected key 'foo' in 'foo=1'") when malformed. */
json_t *tug_gpu_request_parse(const char *value, tug_error **err);

/* tug has no device driver (docker's NVIDIA hook): a container asking for devices through
 * HostConfig.DeviceRequests cannot start, with docker's words. 0 when it asks for none. */
int tug_device_requests_check(json_t *host_config, tug_error **err);
