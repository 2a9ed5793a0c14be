# quantpipe.mk — the whole quantpipe job over one checkpoint, as Make rules.
#
#   include /usr/local/share/quantpipe/quantpipe.mk
#
# or `make -f quantpipe.mk MODEL=model.gguf BUDGETS="4.5 3.5 20GiB"`.
#
# Variables (set them before the include, on the command line or in the
# environment):
#   MODEL      the checkpoint: a GGUF file, or the first shard of a split one
#   IMATRIX    llama.cpp importance matrix (GGUF or .dat), optional
#   TYPES      candidate types, comma separated
#   BUDGETS    space-separated budgets: bpw (4.5) or sizes (20GiB, 4.5G)
#   RUNS       files of measure records (measure-read output) to calibrate
#              the proxy; empty: the uncalibrated prior, labelled so
#   QP_OUT     folder of the outputs (default qp-out)
#   QP_NAME    base name of the outputs (default: MODEL's, shard suffix off)
#   QP_THREADS threads per step (default 1: never grab a shared node)
#   QP_BIN     folder of the programs (default: found on PATH)
#   QP_COMPARE llama.cpp mixes drawn in the pictures, with a recipe of
#              ours at each one's size (default Q4_K_M; empty: none)
#
# Targets: qp-all (every output), qp-qerr, qp-fit, qp-recipes, qp-clean;
# each output also by name:
#   $(QP_OUT)/NAME.dump.mp   gguf-dump's records
#   $(QP_OUT)/NAME.sens.mp   + sens-score (with IMATRIX when given)
#   $(QP_OUT)/NAME.qerr.mp   + qerr-measure over TYPES
#   $(QP_OUT)/NAME.fit.mp    + proxy-fit on RUNS
#   $(QP_OUT)/NAME.BUDGET.recipe.mp the recipe record (types, size, prediction)
#   $(QP_OUT)/NAME.BUDGET.recipe, .tensor-types, .svg  the same as text, as
#            llama-quantize's --tensor-type-file, and as a picture
#
# Every rule writes with -o (a temporary file renamed on success), so an
# interrupted make -j leaves nothing half-written and the next make resumes
# where it stopped.  Changing TYPES, IMATRIX or RUNS rebuilds the outputs
# that depend on them and nothing else (the values are kept in stamp files
# that change only when the value does).

MODEL      ?=
IMATRIX    ?=
TYPES      ?= Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0
BUDGETS    ?= 4.5
RUNS       ?=
QP_OUT     ?= qp-out
QP_THREADS ?= 1
QP_BIN     ?=
QP_COMPARE ?= Q4_K_M
QP_NAME    ?= $(shell echo '$(basename $(notdir $(MODEL)))' | sed 's/-[0-9]\{5\}-of-[0-9]\{5\}$$//')
# Every shard of a split model is an input of the dump.
qp_model_files = $(if $(findstring -00001-of-,$(MODEL)),$(wildcard $(subst -00001-of-,-*-of-,$(MODEL))),$(MODEL))

SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SECONDARY:

qp_prog = $(if $(QP_BIN),$(QP_BIN)/$(1),$(1))
qp_base = $(QP_OUT)/$(QP_NAME)
qp_opts = -q -@ $(QP_THREADS)
# A budget with a size suffix (or a byte count above 1000) is a size.
qp_budget_opt = $$(case '$(1)' in *[KMGTkmgt]*|*[Bb]) echo --size '$(1)';; \
	*) if [ "$$(echo '$(1)' | cut -d. -f1)" -gt 1000 ] 2>/dev/null; then echo --size '$(1)'; \
	   else echo --bpw '$(1)'; fi;; esac)

.PHONY: qp-all qp-qerr qp-fit qp-recipes qp-clean qp-check-model FORCE

qp-all: qp-recipes
qp-qerr: $(qp_base).qerr.mp
qp-fit: $(qp_base).fit.mp
qp-recipes: $(foreach b,$(BUDGETS),$(addprefix $(qp_base).$(b).,recipe.mp recipe tensor-types svg))

qp-check-model:
	@test -n '$(MODEL)' || { echo 'quantpipe.mk: set MODEL=model.gguf' >&2; exit 2; }

# Stamps: rewritten only when the value changes, so they date the change.
qp_stamp_.types = $(TYPES)
qp_stamp_.imatrix = $(IMATRIX)
qp_stamp_.runs = $(RUNS)
qp_stamp_.compare = $(QP_COMPARE)
$(QP_OUT)/.types $(QP_OUT)/.imatrix $(QP_OUT)/.runs $(QP_OUT)/.compare: FORCE
	@mkdir -p $(QP_OUT)
	@v='$(qp_stamp_$(notdir $@))'; \
	 [ -f $@ ] && [ "$$(cat $@)" = "$$v" ] || printf '%s\n' "$$v" >$@

$(qp_base).dump.mp: $(qp_model_files) | qp-check-model
	@mkdir -p $(QP_OUT)
	$(call qp_prog,gguf-dump) $(qp_opts) -o $@ $(MODEL)
	@echo "quantpipe: $@"

$(qp_base).sens.mp: $(qp_base).dump.mp $(QP_OUT)/.imatrix $(IMATRIX)
	$(call qp_prog,sens-score) $(qp_opts) $(if $(IMATRIX),--imatrix $(IMATRIX)) -o $@ $<
	@echo "quantpipe: $@"

$(qp_base).qerr.mp: $(qp_base).sens.mp $(QP_OUT)/.types $(QP_OUT)/.imatrix $(IMATRIX)
	$(call qp_prog,qerr-measure) $(qp_opts) -t $(TYPES) $(if $(IMATRIX),--imatrix $(IMATRIX)) -o $@ $<
	@echo "quantpipe: $@"

$(qp_base).fit.mp: $(qp_base).qerr.mp $(QP_OUT)/.runs $(RUNS)
	$(call qp_prog,proxy-fit) $(qp_opts) -o $@ $< $(RUNS)
	@echo "quantpipe: $@"

# The records of the stream with the budget's recipe added (pred, optimal).
$(qp_base).%.recipe.mp: $(qp_base).fit.mp
	$(call qp_prog,recipe-emit) $(qp_opts) $(call qp_budget_opt,$*) -o $@ $<
	@echo "quantpipe: $@"

# The same recipe (the solver is deterministic) as text and as
# llama-quantize's --tensor-type-file.
$(qp_base).%.recipe: $(qp_base).fit.mp
	$(call qp_prog,recipe-emit) $(qp_opts) $(call qp_budget_opt,$*) -f recipe -o $@ $<
	@echo "quantpipe: $@"

$(qp_base).%.tensor-types: $(qp_base).fit.mp
	$(call qp_prog,recipe-emit) $(qp_opts) $(call qp_budget_opt,$*) -f tensor-type-file -o $@ $<
	@echo "quantpipe: $@"

# The budget's recipe (its layer x role map), the whole frontier, the
# named mixes of QP_COMPARE with ours at their sizes, the measured runs.
$(qp_base).%.svg: $(qp_base).%.recipe.mp $(qp_base).frontier.mp $(if $(QP_COMPARE),$(qp_base).compare.mp) $(RUNS)
	cat $< $(qp_base).frontier.mp $(if $(QP_COMPARE),$(qp_base).compare.mp) $(RUNS) | \
	  $(call qp_prog,rec-plot) -q -m 1 --title '$(QP_NAME) at $*' -o $@
	@echo "quantpipe: $@"

$(qp_base).frontier.mp: $(qp_base).fit.mp
	$(call qp_prog,recipe-emit) $(qp_opts) --frontier -o $@ $<
	@echo "quantpipe: $@"

$(qp_base).compare.mp: $(qp_base).fit.mp $(QP_OUT)/.compare
	$(call qp_prog,recipe-emit) $(qp_opts) --compare $(QP_COMPARE) -o $@ $<
	@echo "quantpipe: $@"

qp-clean:
	rm -f $(qp_base).*.mp $(qp_base).*.recipe $(qp_base).*.tensor-types $(qp_base).*.svg \
	      $(QP_OUT)/.types $(QP_OUT)/.imatrix $(QP_OUT)/.runs

FORCE:
