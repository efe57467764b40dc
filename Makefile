# tug: `make` builds build/tug; `make check` runs every test; `make demo` runs the tutorial.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = $(patsubst tests/fuzz/fuzz_%.c,fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
PREFIX ?= /usr/local

.PHONY: all deps check demo install clean unit system bench format fuzz fuzz-build fuzz-merge

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

# make check's build: the unit tests need cmocka there, so meson stops when it is missing
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dunit_tests=enabled

# libFuzzer needs clang: the fuzz targets get a build of their own
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dwerror=false -Dunit_tests=disabled

fuzz-build: $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD) $(FUZZ_TARGETS)

# make fuzz [FUZZ_SECONDS=60] [FUZZ=unpack]: fuzz each target (or FUZZ) for FUZZ_SECONDS
fuzz: deps fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ)

# add what make fuzz found that reaches new code to the corpora in tests/fuzz/corpus
fuzz-merge: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh --merge $(FUZZ)

deps:
	@scripts/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD)
	@$(MAKE) --no-print-directory fuzz-build
	@BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

install: all
	install -D -m 0755 $(BUILD)/tug $(DESTDIR)$(PREFIX)/bin/tug
	install -D -m 0755 $(BUILD)/tug-monitor $(DESTDIR)$(PREFIX)/bin/tug-monitor

bench: deps all
	@bench/pull.sh

format:
	clang-format -i $$(find src tests/unit tests/fuzz -name '*.[ch]')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
