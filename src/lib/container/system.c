/* Engine-wide facts for `info`, and container sizes for `inspect -s` and `system df -v`. */
#include "system.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../runtime/cgroup.h"
#include "../store/layer.h"
#include "../util/cleanup.h"
#include "../util/digest.h"
#include "../util/fs.h"
#include "../util/strutil.h"

int tug_image_usage_list(tug_store *s, tug_container *const *ctrs, size_t n_ctrs,
                         tug_image_usage **ret, size_t *ret_n, long long *ret_layers,
                         tug_error **err)
{
    tug_image **imgs = NULL;
    size_t n = 0;
    if (tug_store_list_images(s, &imgs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) { /* with their layers */
        tug_image *full = NULL;
        tug_error *e = NULL;
        if (imgs[i]->n_layers == 0 && tug_store_load_image(s, imgs[i]->id, &full, &e) == 0) {
            tug_image_free(imgs[i]);
            imgs[i] = full;
        }
        tug_error_free(e);
    }
    json_t *uses = json_object(); /* chain ID -> the number of images with the layer */
    long long layers = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < imgs[i]->n_layers; j++) {
            const char *chain = imgs[i]->layers[j].chain_id;
            json_int_t k = json_integer_value(json_object_get(uses, chain));
            if (k == 0)
                layers += imgs[i]->layers[j].size;
            json_object_set_new(uses, chain, json_integer(k + 1));
        }
    tug_image_usage *u = calloc(n + 1, sizeof(*u));
    if (u == NULL) {
        json_decref(uses);
        tug_images_free(imgs, n);
        return tug_error_set(err, ENOMEM, "image usage");
    }
    for (size_t i = 0; i < n; i++) {
        u[i].img = imgs[i];
        for (size_t j = 0; j < imgs[i]->n_layers; j++)
            if (json_integer_value(json_object_get(uses, imgs[i]->layers[j].chain_id)) > 1)
                u[i].shared += imgs[i]->layers[j].size;
        for (size_t j = 0; j < n_ctrs; j++)
            u[i].containers += ctrs[j]->image_id && strcmp(ctrs[j]->image_id, imgs[i]->id) == 0;
    }
    free(imgs);
    json_decref(uses);
    *ret = u;
    *ret_n = n;
    *ret_layers = layers;
    return 0;
}

void tug_image_usage_free(tug_image_usage *u, size_t n)
{
    for (size_t i = 0; u && i < n; i++)
        tug_image_free(u[i].img);
    free(u);
}

int tug_container_disk_size(tug_store *s, const tug_container *c, long long *ret_rw,
                            long long *ret_rootfs, tug_error **err)
{
    cleanup_free char *dir = tug_container_dir(s, c->id);
    cleanup_free char *upper = NULL;
    if (dir == NULL || asprintf(&upper, "%s/upper", dir) < 0)
        return tug_error_set(err, ENOMEM, "size of container %s", c->id);
    long long rw = 0;
    tug_error *gone = NULL;
    /* a container that never started has no upper directory yet: it wrote nothing */
    if (tug_dir_size(upper, &rw, &gone) < 0)
        tug_error_free(gone);
    long long image = 0;
    cleanup_image tug_image *img = NULL;
    if (c->image_id && tug_store_find_image(s, c->image_id, &img, &gone) == 0)
        image = img->size;
    else
        tug_error_free(gone);
    *ret_rw = rw;
    *ret_rootfs = rw + image;
    return 0;
}

/* /etc/os-release's KEY="value", unquoted; NULL when absent. */
static char *os_release(const char *key)
{
    cleanup_fclose FILE *f = fopen("/etc/os-release", "re");
    if (f == NULL)
        return NULL;
    char line[512];
    size_t klen = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) != 0 || line[klen] != '=')
            continue;
        char *v = line + klen + 1;
        v[strcspn(v, "\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        return strdup(v);
    }
    return NULL;
}

/* docker's names for the filesystem under the store (statfs magic numbers). */
static const char *backing_fs(const char *root)
{
    struct statfs sf;
    if (statfs(root, &sf) < 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53UL:
        return "extfs";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683EUL:
        return "btrfs";
    case 0x01021994UL:
        return "tmpfs";
    case 0x794c7630UL:
        return "overlayfs";
    case 0x2FC12FC1UL:
        return "zfs";
    default:
        return "unknown";
    }
}

/* A stable ID for this store on this host, as docker's engine ID is stable across restarts. */
static char *engine_id(tug_store *s)
{
    char machine[64] = "";
    cleanup_fclose FILE *f = fopen("/etc/machine-id", "re");
    if (f && fgets(machine, sizeof(machine), f))
        machine[strcspn(machine, "\n")] = '\0';
    cleanup_free char *seed = NULL;
    if (asprintf(&seed, "%s %s", machine, s->root) < 0)
        return NULL;
    char dg[TUG_DIGEST_LEN + 1];
    tug_sha256_buf(seed, strlen(seed), dg);
    const char *h = tug_digest_hex(dg);
    char *id = NULL;
    if (asprintf(&id, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20) < 0)
        return NULL;
    return id;
}

static int count_containers(tug_store *s, json_t *info, tug_error **err)
{
    tug_container **v = NULL;
    size_t n = 0;
    if (tug_container_list(s, &v, &n, err) < 0)
        return -1;
    long long running = 0, paused = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i]->state, TUG_STATE_PAUSED) == 0)
            paused++;
        else if (strcmp(v[i]->state, TUG_STATE_RUNNING) == 0 ||
                 strcmp(v[i]->state, TUG_STATE_RESTARTING) == 0)
            running++;
    }
    json_object_set_new(info, "Containers", json_integer((json_int_t)n));
    json_object_set_new(info, "ContainersRunning", json_integer(running));
    json_object_set_new(info, "ContainersPaused", json_integer(paused));
    json_object_set_new(info, "ContainersStopped", json_integer((json_int_t)n - running - paused));
    tug_containers_free(v, n);
    return 0;
}

static json_t *registry_config(const char *const *insecure)
{
    json_t *rc = json_object(), *cidrs = json_array(), *idx = json_object();
    json_array_append_new(cidrs, json_string("127.0.0.0/8"));
    json_t *hub = json_object();
    json_object_set_new(hub, "Name", json_string("docker.io"));
    json_object_set_new(hub, "Mirrors", json_array());
    json_object_set_new(hub, "Secure", json_true());
    json_object_set_new(hub, "Official", json_true());
    json_object_set_new(idx, "docker.io", hub);
    for (const char *const *r = insecure; r && *r; r++) {
        json_t *e = json_object();
        json_object_set_new(e, "Name", json_string(*r));
        json_object_set_new(e, "Mirrors", json_array());
        json_object_set_new(e, "Secure", json_false());
        json_object_set_new(e, "Official", json_false());
        json_object_set_new(idx, *r, e);
    }
    json_object_set_new(rc, "InsecureRegistryCIDRs", cidrs);
    json_object_set_new(rc, "IndexConfigs", idx);
    json_object_set_new(rc, "Mirrors", json_array());
    return rc;
}

static void host_facts(json_t *info)
{
    struct utsname u;
    if (uname(&u) == 0) {
        json_object_set_new(info, "KernelVersion", json_string(u.release));
        json_object_set_new(info, "Architecture", json_string(u.machine));
        json_object_set_new(info, "Name", json_string(u.nodename));
    }
    cleanup_free char *os = os_release("PRETTY_NAME");
    cleanup_free char *osv = os_release("VERSION_ID");
    json_object_set_new(info, "OperatingSystem", json_string(os ? os : "Linux"));
    json_object_set_new(info, "OSVersion", json_string(osv ? osv : ""));
    json_object_set_new(info, "OSType", json_string("linux"));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    json_object_set_new(info, "NCPU", json_integer(ncpu > 0 ? ncpu : 1));
    struct sysinfo si;
    json_object_set_new(
        info, "MemTotal",
        json_integer(sysinfo(&si) == 0 ? (json_int_t)si.totalram * si.mem_unit : 0));
    tug_cgroup_mode mode = tug_cgroup_host_mode();
    json_object_set_new(info, "CgroupDriver", json_string("cgroupfs"));
    /* hybrid hosts run every controller on v1, as docker reports them */
    json_object_set_new(info, "CgroupVersion", json_string(mode == TUG_CGROUP_V2 ? "2" : "1"));
}

int tug_engine_info(tug_store *s, const char *const *insecure, json_t **ret_info, tug_error **err)
{
    json_t *info = json_object();
    cleanup_free char *id = engine_id(s);
    json_object_set_new(info, "ID", json_string(id ? id : ""));
    if (count_containers(s, info, err) < 0) {
        json_decref(info);
        return -1;
    }
    tug_image **imgs = NULL;
    size_t nimg = 0;
    if (tug_store_list_images(s, &imgs, &nimg, err) < 0) {
        json_decref(info);
        return -1;
    }
    tug_images_free(imgs, nimg);
    json_object_set_new(info, "Images", json_integer((json_int_t)nimg));
    /* tug mounts the kernel's overlay filesystem with every layer as a lower dir, as overlay2 */
    json_object_set_new(info, "Driver", json_string("overlay"));
    json_t *ds = json_array(), *bf = json_array(), *dt = json_array();
    json_array_append_new(bf, json_string("Backing Filesystem"));
    json_array_append_new(bf, json_string(backing_fs(s->root)));
    json_array_append_new(dt, json_string("Supports d_type"));
    json_array_append_new(dt, json_string("true"));
    json_array_append_new(ds, bf);
    json_array_append_new(ds, dt);
    /* what the layers under the overlay are: EROFS images or directories (docs/store.md) */
    int lf = tug_store_layer_format(s, NULL);
    json_t *fmt = json_array();
    json_array_append_new(fmt, json_string("Layer Format"));
    json_array_append_new(fmt, json_string(lf < 0 ? "unknown" : tug_layer_format_name(lf)));
    json_array_append_new(ds, fmt);
    json_object_set_new(info, "DriverStatus", ds);
    json_object_set_new(info, "LoggingDriver", json_string("json-file"));
    json_object_set_new(info, "Plugins",
                        json_pack("{s:[s], s:[s,s,s], s:n, s:[s]}", "Volume", "local", "Network",
                                  "bridge", "host", "none", "Authorization", "Log", "json-file"));
    host_facts(info);
    json_object_set_new(info, "IndexServerAddress", json_string("https://index.docker.io/v1/"));
    json_object_set_new(info, "RegistryConfig", registry_config(insecure));
    json_object_set_new(info, "DockerRootDir", json_string(s->root));
    json_object_set_new(info, "Labels", json_array());
    json_object_set_new(info, "ExperimentalBuild", json_false());
    json_object_set_new(info, "ServerVersion", json_string(TUG_VERSION));
    json_object_set_new(info, "DefaultRuntime", json_string("tug"));
    /* no daemon: a container's monitor outlives every tug command */
    json_object_set_new(info, "LiveRestoreEnabled", json_true());
    json_object_set_new(info, "Debug", json_false());
    json_t *sec = json_array();
    json_array_append_new(sec, json_string("name=seccomp,profile=default"));
    json_object_set_new(info, "SecurityOptions", sec);
    json_object_set_new(info, "Warnings", json_null());
    *ret_info = info;
    return 0;
}

const char *tug_go_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__arm__)
    return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
    return "unknown";
#endif
}

json_t *tug_engine_version(void)
{
    struct utsname u;
    const char *kernel = uname(&u) == 0 ? u.release : "";
    json_t *srv = json_object(), *comps = json_array(), *engine = json_object(),
           *details = json_object();
    json_object_set_new(details, "Os", json_string("linux"));
    json_object_set_new(details, "Arch", json_string(tug_go_arch()));
    json_object_set_new(details, "KernelVersion", json_string(kernel));
    json_object_set_new(engine, "Name", json_string("Engine"));
    json_object_set_new(engine, "Version", json_string(TUG_VERSION));
    json_object_set_new(engine, "Details", details);
    json_array_append_new(comps, engine);
    json_t *platform = json_object();
    json_object_set_new(platform, "Name", json_string("tug"));
    json_object_set_new(srv, "Platform", platform);
    json_object_set_new(srv, "Components", comps);
    json_object_set_new(srv, "Version", json_string(TUG_VERSION));
    json_object_set_new(srv, "Os", json_string("linux"));
    json_object_set_new(srv, "Arch", json_string(tug_go_arch()));
    json_object_set_new(srv, "KernelVersion", json_string(kernel));
    return srv;
}
