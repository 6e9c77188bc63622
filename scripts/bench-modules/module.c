/* The rejected alternative's module: a C-ABI entry table in a shared library, loaded in process. */
#include <stdint.h>

static int64_t total;

int64_t module_handle(int64_t delta) { total += delta; return total; }
int64_t module_snapshot(void) { return total; }
void module_restore(int64_t state) { total = state; }
int module_version(void) { return MODULE_VERSION; }
