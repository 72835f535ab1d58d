# Thin wrapper over meson; `make help` lists the targets.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

.PHONY: help deps build test unit integration asan asan-build asan-unit asan-integration fuzz deb deb-test demo bench format clean

help:
	@echo "make demo   - install, build and replay the Kubernetes Service walkthrough"
	@echo "make test   - install, build and run every unit and integration test"
	@echo "make build  - configure and build into $(BUILD)/"
	@echo "make bench  - run the micro-benchmarks (perf/)"
	@echo "make asan   - unit and integration tests under ASan/UBSan in $(ASAN_BUILD)/"
	@echo "              (make asan-unit / make asan-integration: one of the two)"
	@echo "make fuzz   - short libFuzzer run of every target (FUZZ_SECONDS, default 60, in build-fuzz/)"
	@echo "make deb    - the Debian package (debian/) in $(DEB_DIR)/ (DEB_BUILD=DIR: from that build)"
	@echo "make deb-test - build it, install it in a throw-away overlay of this system, check it"

deps:
	@tools/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: build
	tests/integration/run.sh $(BUILD)

test: unit integration

# jemalloc is left out: ASan must own malloc to see heap errors and leaks.
# -march=x86-64 (no SSE4.2, no AVX): the sanitizers also cover the portable
# code paths (software CRC-32C, Maglev and flow-table fallbacks), and the
# golden pick and digest tests prove that they agree with the native build.
asan-build: deps
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=disabled -Dbuildtype=debugoptimized -Db_ndebug=false -Djemalloc=disabled -Dcpu_arch=x86-64
	ninja -C $(ASAN_BUILD)

asan-unit: asan-build build
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	tests/compare_builds.sh $(BUILD) $(ASAN_BUILD)

# run.sh sets the sanitizer options and fails a test that leaves a report.
# Every test runs under the sanitizers but three, whose minutes are timing
# and load rather than code that the others leave unreached there: the
# BGP/BFD fleet rig (its daemon's paths: test_announce, test_fleet_nat,
# test_fleet_leases), the flood (the drop and policer paths: test_faults,
# fuzz_packet) and churn in nat mode (churn fullnat). `make test` runs them.
ASAN_SKIP_TESTS ?= fleet/test_fleet.sh,test_flood.sh,test_churn.sh nat
asan-integration: asan-build
	SVCGW_SKIP_TESTS='$(ASAN_SKIP_TESTS)' tests/integration/run.sh $(ASAN_BUILD)

asan: asan-unit asan-integration

# Short run of every libFuzzer target (clang build in build-fuzz/), for CI.
FUZZ_SECONDS ?= 60
fuzz: deps
	tools/fuzz.sh $(FUZZ_SECONDS)

# The Debian package (tools/make-deb.sh) in $(DEB_DIR)/: from a portable
# release build it configures in $(DEB_DIR)/build, or, with DEB_BUILD=DIR,
# from that meson build as it is (CI: DEB_BUILD=build, compiled once).
DEB_DIR ?= build-deb
DEB_BUILD ?=
deb: deps
	tools/make-deb.sh $(DEB_DIR) $(DEB_BUILD)

deb-test: deb
	tests/package/test_deb.sh $(DEB_DIR)/svcgw_$$(dpkg-parsechangelog -S Version)_amd64.deb

demo: build
	tools/demo.sh $(BUILD)

# A Google Benchmark filter (regex; a leading '-' excludes).
BENCH_FILTER ?= .
bench: build
	perf/run-bench.sh $(BUILD) '$(BENCH_FILTER)'

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEB_DIR)
