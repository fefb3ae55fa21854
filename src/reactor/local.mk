# Sources and tests of src/reactor; included by the top-level Makefile.am.
libcrisp_a_SOURCES += \
	src/reactor/grpc.c src/reactor/grpc.h \
	src/reactor/grpc-call.c \
	src/reactor/grpc-conn.c \
	src/reactor/grpc-internal.h \
	src/reactor/grpc-wire.c src/reactor/grpc-wire.h

check_PROGRAMS += t/00unit/reactor/grpc-wire
TESTS += t/00unit/reactor/grpc-wire
t_00unit_reactor_grpc_wire_SOURCES = t/00unit/reactor/grpc-wire.c
t_00unit_reactor_grpc_wire_LDADD = $(CRISP_LIBS)

check_PROGRAMS += t/00unit/reactor/grpc-server
TESTS += t/00unit/reactor/grpc-server
t_00unit_reactor_grpc_server_SOURCES = t/00unit/reactor/grpc-server.c
t_00unit_reactor_grpc_server_LDADD = $(CRISP_LIBS)

if ENABLE_FUZZING
# The server sources are compiled into the target itself so the fuzzer sees their coverage.
check_PROGRAMS += fuzz/fuzz-grpc-server
fuzz_fuzz_grpc_server_SOURCES = fuzz/fuzz-grpc-server.c \
	src/reactor/grpc.c src/reactor/grpc-call.c src/reactor/grpc-conn.c src/reactor/grpc-wire.c
fuzz_fuzz_grpc_server_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
fuzz_fuzz_grpc_server_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_grpc_server_LDADD = $(CRISP_LIBS)
endif
