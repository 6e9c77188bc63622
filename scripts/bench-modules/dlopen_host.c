/* Measures the in-process alternative to module workers: each reload dlopens a uniquely named
 * copy of the module (the same path or inode would return the already loaded image), resolves
 * its entry table and hands the state over; nothing is ever dlclosed (a Swift image cannot be
 * unloaded safely, so a design that must also load Swift modules cannot rely on dlclose).
 *
 * Usage: dlopen_host DIR COUNT  (DIR holds module-0.so ... module-<COUNT-1>.so)
 * Prints one JSON object: reload times (ms), resident and mapped memory before and after (KiB),
 * and the cost of one call through the entry table (ns). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int64_t (*handle_fn)(int64_t);
typedef int64_t (*snapshot_fn)(void);
typedef void (*restore_fn)(int64_t);

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    size_t length = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, length) == 0) { value = strtol(line + length, NULL, 10); break; }
    }
    if (f) fclose(f);
    return value;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: dlopen_host DIR COUNT\n"); return 64; }
    int count = atoi(argv[2]);
    double *times = calloc(count, sizeof(double));
    char path[4096];
    handle_fn handle = NULL;
    snapshot_fn snapshot = NULL;
    long rss_before = 0, size_before = 0;
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/module-%d.so", argv[1], i);
        double start = now_ms();
        void *image = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!image) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
        handle_fn next_handle = (handle_fn)dlsym(image, "module_handle");
        snapshot_fn next_snapshot = (snapshot_fn)dlsym(image, "module_snapshot");
        restore_fn next_restore = (restore_fn)dlsym(image, "module_restore");
        if (!next_handle || !next_snapshot || !next_restore) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 1; }
        next_restore(snapshot ? snapshot() : 0);
        handle = next_handle;
        snapshot = next_snapshot;
        times[i] = now_ms() - start;
        handle(1);
        if (i == 0) { rss_before = status_kib("VmRSS:"); size_before = status_kib("VmSize:"); }
    }
    long rss_after = status_kib("VmRSS:"), size_after = status_kib("VmSize:");
    int64_t expected = count;
    if (snapshot() != expected) { fprintf(stderr, "state lost: %lld != %lld\n", (long long)snapshot(), (long long)expected); return 1; }
    const int calls = 10000000;
    double start = now_ms();
    for (int i = 0; i < calls; i++) handle(1);
    double call_ns = (now_ms() - start) * 1e6 / calls;
    qsort(times, count, sizeof(double), compare);
    printf("{\"reloads\": %d, \"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f, \"rssBeforeKiB\": %ld, \"rssAfterKiB\": %ld, "
           "\"sizeBeforeKiB\": %ld, \"sizeAfterKiB\": %ld, \"callNanoseconds\": %.2f}\n",
           count, times[count / 2], times[(int)(count * 0.99)], times[count - 1], rss_before, rss_after, size_before, size_after, call_ns);
    return 0;
}
