# quantpipe — one non-recursive Makefile.
#   make            build bin/* and libquantpipe.a
#   make check      build, then run every test with prove
#   make check-asan the same tests built with ASan+UBSan (in build-asan/)
#   make demo       the main job on the built-in synthetic example
#   make deps       install the Debian packages the build needs
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each; fuzz-NAME one
#   make bench      benchmarks (not part of check)
#   make mutate     mutation audit (tests/mutations.tsv), not part of check

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
BASE_CFLAGS = -std=c11 -ffp-contract=off -D_GNU_SOURCE -DQP_VERSION='"$(VERSION)"' $(INCLUDES)
ALL_CFLAGS  = $(BASE_CFLAGS) $(WARN) $(PKG_CFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP
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

.PHONY: all check check-asan check-plain demo demo-real deps fuzz bench install clean lint-man units mutate
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

# The SIMD kernels must give the bytes of their twins: run every unit
# test (the list is UNITS) on a build without SIMD code paths (build-plain)
# and on one with SSE2 but no AVX2 kernels (build-sse2); `make check` runs
# the AVX2 ones where the processor has them.
check-plain:
	$(MAKE) O=build-plain BIN=build-plain/bin CFLAGS='-O2 -g -U__SSE2__' units
	$(MAKE) O=build-sse2 BIN=build-sse2/bin CFLAGS='-O2 -g -DQP_NO_AVX2' units
	QP_TOP=$(CURDIR) prove -j2 $(UNIT_SRC:tests/unit/%.c=build-plain/tbin/%) \
	  $(UNIT_SRC:tests/unit/%.c=build-sse2/tbin/%)

# One-line mutations applied in a scratch copy; prints the survivors.
mutate:
	sh tests/mutate.sh -j2

lint-man:
	mandoc -Tlint -W warning $(MANS)

demo:
	@$(MAKE) --no-print-directory -s all
	@QP_DEMO_OUT=$(O)/demo sh pipelines/demo.sh $(BIN)

# The calibration loop with the real llama.cpp (pipelines/calibrate.mk):
# make demo-real LLAMA_CPP=dir [MODEL=... EVAL_TEXT=...]; by default on
# ../shared's kjv-llama.
DEMO_MODEL ?= ../shared/fixtures/kjv-llama/model-f32.gguf
DEMO_EVAL  ?= ../shared/fixtures/kjv-llama/eval.txt
demo-real:
	@test -n "$(LLAMA_CPP)" || { echo "demo-real: set LLAMA_CPP=folder of llama-quantize and llama-perplexity" >&2; exit 2; }
	@$(MAKE) --no-print-directory -s all
	$(MAKE) --no-print-directory -f pipelines/calibrate.mk MODEL=$(DEMO_MODEL) EVAL_TEXT=$(DEMO_EVAL) \
	  LLAMA_CPP=$(LLAMA_CPP) QP_BIN=$(CURDIR)/$(BIN) CAL_OUT=$(O)/demo-real QP_THREADS=2 \
	  BUDGETS="4.92 4.04" cal-all
	@echo "report: $(O)/demo-real/report.tsv, $(O)/demo-real/report.svg"

deps:
	@sh .ci/deps.sh

# Fuzzing: the library is compiled once for libFuzzer into build-fuzz/
# (instrumented, not linked with the fuzzer's main), each target in fuzz/
# is its own rule linking it: `make fuzz-rec_reader` builds and runs one,
# `make fuzz` all of them, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
FUZZ_O     := build-fuzz
FUZZ_CC    ?= clang
FUZZ_SRC   := $(sort $(wildcard fuzz/*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/%.c=%)
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -MMD -MP
FUZZ_LIB   := $(FUZZ_O)/libquantpipe.a
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_O)/%.o)

.PHONY: $(FUZZ_NAMES:%=fuzz-%)

$(FUZZ_O)/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_O)/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_O)/bin/%: $(FUZZ_O)/fuzz/%.o $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $< $(FUZZ_LIB) $(PKG_LIBS) -lpthread -lm -o $@

$(FUZZ_NAMES:%=fuzz-%): fuzz-%: $(FUZZ_O)/bin/%
	@mkdir -p $(FUZZ_O)/corpus-$*
	@echo "fuzz: $* for $(FUZZ_SECONDS)s"
	@$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $(FUZZ_O)/corpus-$* fuzz/seeds/$* >$(FUZZ_O)/$*.log 2>&1; \
	  status=$$?; \
	  grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' $(FUZZ_O)/$*.log; \
	  [ $$status -eq 0 ] || { echo "fuzz: $* failed, see $(FUZZ_O)/$*.log"; exit 1; }

fuzz: $(FUZZ_NAMES:%=fuzz-%)

bench: all $(BENCHES)
	@for b in bench/*.sh; do sh $$b $(BIN) $(O)/bbin || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(FILTERS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -d $(DESTDIR)$(PREFIX)/share/quantpipe/slurm
	install -m 644 pipelines/quantpipe.mk pipelines/sweep.mk pipelines/calibrate.mk $(DESTDIR)$(PREFIX)/share/quantpipe/
	install -m 755 pipelines/slurm/*.sbatch pipelines/slurm/submit.sh $(DESTDIR)$(PREFIX)/share/quantpipe/slurm/
	install -m 644 pipelines/slurm/README.md $(DESTDIR)$(PREFIX)/share/quantpipe/slurm/

clean:
	rm -rf $(O) build-asan build-plain build-sse2 build-fuzz $(BIN)

-include $(LIB_OBJ:.o=.d) $(FILTER_SRC:%.c=$(O)/%.d) $(UNIT_SRC:%.c=$(O)/%.d) $(BENCH_SRC:%.c=$(O)/%.d)
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(FUZZ_O)/%.d)
