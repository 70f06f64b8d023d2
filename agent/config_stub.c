/* config_stub.c — a stand-in for agent/config.c, which is written on another branch: weak
 * definitions of the config functions that `history` and `incidents` call, so that this
 * branch links on its own. A real definition (config.c) overrides each of them at link
 * time; delete this file once config.c is merged. Never reads a file or a secret. */
#include "agent/config.h"
#include "agent/util.h"

#include <stdlib.h>

static int stub_fail(struct config **out, struct config_diag *diag) {
  *out = NULL;
  if (diag) {
    diag->errors = xrealloc(diag->errors, (diag->n_errors + 1) * sizeof(*diag->errors));
    diag->errors[diag->n_errors++] =
        xstrdup("config files are not supported by this build yet: pass --database PATH");
  }
  return UTIL_ECONFIG;
}

__attribute__((weak)) int config_load(const char *path, struct config **out,
                                      struct config_diag *diag) {
  (void)path;
  return stub_fail(out, diag);
}

__attribute__((weak)) int config_load_default(struct config **out, struct config_diag *diag) {
  return stub_fail(out, diag);
}

__attribute__((weak)) void config_free(struct config *c) {
  (void)c;
}

__attribute__((weak)) void config_diag_free(struct config_diag *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n_errors; i++)
    free(d->errors[i]);
  for (size_t i = 0; i < d->n_warnings; i++)
    free(d->warnings[i]);
  free(d->errors);
  free(d->warnings);
  d->errors = d->warnings = NULL;
  d->n_errors = d->n_warnings = 0;
}
