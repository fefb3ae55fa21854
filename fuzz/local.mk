# libFuzzer targets, built with --enable-fuzzing.
