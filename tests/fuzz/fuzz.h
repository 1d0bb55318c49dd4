/* tests/fuzz/fuzz.h - every fuzz target defines LLVMFuzzerTestOneInput.
 * Built with -Dfuzzing=true (clang) they link libFuzzer; otherwise they link
 * fuzz-main.c, which replays the corpus files given on the command line, so
 * the corpus runs as an ordinary test under meson test (systemd's habit). */
#ifndef GV_FUZZ_H
#define GV_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
