# tug: `make` builds build/tug; `make check` runs every test; `make demo` runs the tutorial.
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local

.PHONY: all deps check demo install clean unit system bench format

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

# make check's build: the unit tests need cmocka there, so meson stops when it is missing
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dunit_tests=enabled

deps:
	@scripts/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD)
	@tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

install: all
	install -D -m 0755 $(BUILD)/tug $(DESTDIR)$(PREFIX)/bin/tug
	install -D -m 0755 $(BUILD)/tug-monitor $(DESTDIR)$(PREFIX)/bin/tug-monitor

bench: deps all
	@bench/pull.sh

format:
	clang-format -i $$(find src tests/unit -name '*.[ch]')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
