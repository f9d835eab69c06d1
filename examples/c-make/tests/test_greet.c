#include <stdio.h>
#include <string.h>
#include "greet.h"

static int failures = 0;

static void expect(const char *name, const char *want) {
  char got[64];
  greet(name, got, sizeof got);
  if (strcmp(got, want) != 0) {
    printf("FAIL: greet(%s) = \"%s\", want \"%s\"\n", name ? name : "NULL", got, want);
    failures++;
  } else {
    printf("ok: %s\n", want);
  }
}

int main(void) {
  expect("Slipway", "Hello, Slipway!");
  expect("", "Hello, world!");
  expect(NULL, "Hello, world!");
  char small[8];
  int needed = greet("truncated", small, sizeof small);
  if (needed != 17 || strlen(small) != 7) { puts("FAIL: truncation"); failures++; } else { puts("ok: truncation"); }
  printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
