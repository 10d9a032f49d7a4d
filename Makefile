# A thin front end to CMake. `make check` and `make image` install what is missing first.
BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
WERROR ?= ON
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= profile deb822 image diff bolt
PROFILE ?= profiles/minimal.yaml
OUT ?= out

# A new build directory is configured without the tests (they need cmocka, which `install-deps.sh
# build` does not install); an existing one keeps its choice. `make check` turns them on.
NEW_TESTING = $(if $(wildcard $(BUILD)/CMakeCache.txt),,-DBUILD_TESTING=OFF)

SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find composer include tests -name '*.[ch]')

.PHONY: all build deps check asan fuzz image install format format-check lint clean

all: build

deps:
	scripts/install-deps.sh build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DVMCOMPOSE_WERROR=$(WERROR) -DBUILD_TESTING=OFF

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

check:
	scripts/install-deps.sh check
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DVMCOMPOSE_WERROR=$(WERROR) -DBUILD_TESTING=ON
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan:
	scripts/install-deps.sh check
	cmake -S . -B $(BUILD)-asan -DBUILD_TESTING=ON -DCMAKE_BUILD_TYPE=Debug -DVMCOMPOSE_SANITIZE=ON -DVMCOMPOSE_WERROR=$(WERROR)
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

# Builds the libFuzzer targets with clang and fuzzes each for FUZZ_SECONDS (the profile loader;
# the deb822 readers: Packages, Release, apt sources, copyright files; the image readers of
# inspect: qcow2, VHDX, VHD; diff's FAT, ext4, qcow2 and VHDX readers; the audit's bbolt reader of
# containerd's meta.db), starting from (and
# adding to a copy of) the checked-in corpus.
# FUZZ_TARGETS=image fuzzes one.
fuzz:
	scripts/install-deps.sh check fuzz
	CC=clang cmake -S . -B $(BUILD)-fuzz -DBUILD_TESTING=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMCOMPOSE_FUZZ=ON -DVMCOMPOSE_WERROR=$(WERROR)
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target $(addprefix fuzz-,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)-fuzz/corpus-$$t && \
		cp -n tests/fuzz/corpus/$$t/* $(BUILD)-fuzz/corpus-$$t/ 2>/dev/null; \
		dict=; [ -e tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		$(BUILD)-fuzz/tests/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$$(case $$t in diff) echo 262144;; bolt) echo 65536;; *) echo 8192;; esac) \
			$$dict -print_final_stats=1 $(BUILD)-fuzz/corpus-$$t || exit 1; \
	done

image:
	scripts/install-deps.sh build image
	$(MAKE) build
	$(BUILD)/vmcompose build $(PROFILE) -o $(OUT)

# The data directory is compiled in, so PREFIX is applied at configure time too.
install:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DVMCOMPOSE_WERROR=$(WERROR) $(NEW_TESTING)
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

lint: build
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
		-I include -I $(BUILD) --suppress=missingIncludeSystem composer

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
