/* fuzz_config.c — libFuzzer target for the config parser (agent/config.c): any bytes as a
 * YAML config file. Beyond "no crash, no leak, no undefined behaviour" it checks the
 * parser's promises: it returns 0 with a config or UTIL_ECONFIG with at least one error,
 * every message starts with the file's name, and no message repeats an inline secret.
 * Build and run:
 *   CC=clang cmake -S . -B build-fuzz -DCLAUDEMON_FUZZ=ON -DCLAUDEMON_TESTS=OFF
 *   cmake --build build-fuzz --target fuzz_config
 *   build-fuzz/tests/fuzz/fuzz_config -max_total_time=60 -max_len=4096 CORPUS packaging */
#include "agent/config.h"
#include "agent/util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) __builtin_trap();                                                                 \
  } while (0)

static void check_messages(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    CHECK(v[i] != NULL);
    CHECK(strncmp(v[i], "fuzz.yml", 8) == 0);
    /* A key-shaped value in the input never comes back in a message. */
    const char *k = strstr(v[i], "sk-ant-");
    if (k) CHECK(strlen(k) < 24);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = xmalloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  struct config *c = NULL;
  struct config_diag diag = {0};
  int rc = config_load_string(text, "fuzz.yml", &c, &diag);
  if (rc == 0) {
    CHECK(c != NULL);
    CHECK(c->listen != NULL && c->database != NULL && c->api.base_url != NULL);
    for (size_t i = 0; i < c->n_keys; i++)
      CHECK(c->keys[i].name != NULL &&
            (c->keys[i].key_env != NULL) != (c->keys[i].key_file != NULL));
  } else {
    CHECK(c == NULL);
    CHECK(diag.n_errors > 0);
  }
  check_messages(diag.errors, diag.n_errors);
  check_messages(diag.warnings, diag.n_warnings);
  config_free(c);
  config_diag_free(&diag);
  free(text);
  return 0;
}
