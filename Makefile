# quantpipe — one non-recursive Makefile.
#   make            build bin/* and libquantpipe.a
#   make check      build, then run every test with prove
#   make check-asan the same tests built with ASan+UBSan (in build-asan/)
#   make demo       the main job on the built-in synthetic example
#   make deps       install the Debian packages the build needs
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench      benchmarks (not part of check)

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
CC        ?= cc
PKG_CONFIG ?= pkg-config
O         ?= build
BIN       := bin
PKGS      := msgpack libarchive jansson zlib lapack

WARN      := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wpedantic
CFLAGS    ?= -O2 -g
ifeq ($(WERROR),1)
WARN      += -Werror
endif
ifneq ($(SANITIZE),)
SANFLAGS  := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

# common/ is in sub-folders by layer (common/README); includes are bare
# names, so every layer folder is on the include path.  Flat common/*.c
# (a module not yet given its layer) still builds.
LAYERS      := $(sort $(patsubst %/,%,$(dir $(wildcard common/*/*.h common/*/*.c))))
INCLUDES    := -Icommon $(addprefix -I,$(LAYERS))
ALL_CFLAGS  = -std=c11 -ffp-contract=off -D_GNU_SOURCE -DQP_VERSION='"$(VERSION)"' $(INCLUDES) $(WARN) $(PKG_CFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

LIB_SRC    := $(sort $(wildcard common/*.c common/*/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(O)/%.o)
LIB        := $(O)/libquantpipe.a
FILTER_SRC := $(sort $(wildcard filters/*.c))
FILTERS    := $(FILTER_SRC:filters/%.c=$(BIN)/%)
UNIT_SRC   := $(sort $(wildcard tests/unit/*.c))
UNITS      := $(UNIT_SRC:tests/unit/%.c=$(O)/tbin/%)
BENCH_SRC  := $(sort $(wildcard bench/*.c))
BENCHES    := $(BENCH_SRC:bench/%.c=$(O)/bbin/%)
MANS       := $(sort $(wildcard man/*.1 man/*.5))

.PHONY: all check check-asan check-plain demo deps fuzz bench install clean lint-man units
.DELETE_ON_ERROR:
.SECONDARY:

all: $(FILTERS) $(UNITS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(O)/filters/%.o $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) $< $(LIB) $(LIBS) -o $@

$(O)/tbin/%: $(O)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(LIB) $(LIBS) -o $@

$(O)/bbin/%: $(O)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $< $(LIB) $(LIBS) -o $@

units: $(UNITS)

# Tests find the programs through QP_BIN and QP_UNIT, so the asan run reuses them.
check: all
	QP_BIN=$(CURDIR)/$(BIN) QP_UNIT=$(CURDIR)/$(O)/tbin QP_TOP=$(CURDIR) \
	  prove -j2 $(PROVE_FLAGS) tests/*.t $(UNITS)

check-asan:
	$(MAKE) O=build-asan BIN=build-asan/bin SANITIZE=address,undefined CFLAGS='-O1 -g' check

# The SIMD kernels must give the bytes of their plain C twins: run the
# numeric unit tests on a build without SSE2 code paths.
check-plain:
	$(MAKE) O=build-plain BIN=build-plain/bin CFLAGS='-O2 -g -U__SSE2__' units
	QP_TOP=$(CURDIR) prove -j2 build-plain/tbin/quant_fixtures build-plain/tbin/quant_roundtrip \
	  build-plain/tbin/quant_k build-plain/tbin/quant_iq build-plain/tbin/wstats build-plain/tbin/fp16

lint-man:
	mandoc -Tlint -W warning $(MANS)

demo:
	@$(MAKE) --no-print-directory -s all
	@sh pipelines/demo.sh $(BIN)

deps:
	@sh .ci/deps.sh

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(sort $(wildcard fuzz/*.c))
fuzz:
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  clang -std=c11 -ffp-contract=off -D_GNU_SOURCE -DQP_VERSION='"$(VERSION)"' $(INCLUDES) -g -O1 \
	    -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) $$f $(LIB_SRC) $(PKG_LIBS) -lpthread -lm \
	    -o build-fuzz/$$n || exit 1; \
	  mkdir -p build-fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build-fuzz/corpus-$$n fuzz/seeds/$$n >build-fuzz/$$n.log 2>&1; \
	  status=$$?; \
	  grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' build-fuzz/$$n.log; \
	  [ $$status -eq 0 ] || { echo "fuzz: $$n failed, see build-fuzz/$$n.log"; exit 1; }; \
	done

bench: all $(BENCHES)
	@for b in bench/*.sh; do sh $$b $(BIN) $(O)/bbin || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(FILTERS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -d $(DESTDIR)$(PREFIX)/share/quantpipe/slurm
	install -m 644 pipelines/quantpipe.mk pipelines/sweep.mk $(DESTDIR)$(PREFIX)/share/quantpipe/
	install -m 755 pipelines/slurm/*.sbatch pipelines/slurm/submit.sh $(DESTDIR)$(PREFIX)/share/quantpipe/slurm/
	install -m 644 pipelines/slurm/README.md $(DESTDIR)$(PREFIX)/share/quantpipe/slurm/

clean:
	rm -rf $(O) build-asan build-plain build-fuzz $(BIN)

-include $(LIB_OBJ:.o=.d) $(FILTER_SRC:%.c=$(O)/%.d) $(UNIT_SRC:%.c=$(O)/%.d)
