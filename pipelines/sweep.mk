# sweep.mk — the quantpipe job over many checkpoints, and one table
# comparing them.
#
#   make -f sweep.mk -j 8 CHECKPOINTS="a.gguf b.gguf" BUDGETS="4.5 3.5"
#   make -f sweep.mk -j 8 CHECKPOINT_LIST=paths.txt
#
# Variables: CHECKPOINTS (paths) or CHECKPOINT_LIST (a file, one path a
# line, # comments and blank lines ignored); SWEEP_OUT (default sweep-out);
# QP_MK (the quantpipe.mk fragment; default the one beside this file);
# SWEEP_TARGET (default qp-all); every quantpipe.mk variable (TYPES,
# BUDGETS, IMATRIX, RUNS, QP_THREADS, QP_BIN) is passed on.
#
# Each checkpoint NAME gets SWEEP_OUT/NAME/ (quantpipe.mk's outputs) and
# the table SWEEP_OUT/sweep.tsv: one row per checkpoint with its size in
# bytes, its parameter count, for each budget the recipe's bytes and
# predicted loss with its interval, and its three most sensitive tensors.
# SWEEP_OUT/sweep.svg is the same comparison as a picture (rec-plot
# --compare): the predictions with their intervals, checkpoint by
# checkpoint, one series per budget, above the table.  Both are rewritten
# only when a checkpoint's outputs, the checkpoints or the budgets change.

CHECKPOINT_LIST ?=
CHECKPOINTS     ?= $(if $(CHECKPOINT_LIST),$(shell grep -v '^[[:space:]]*\(\#\|$$\)' $(CHECKPOINT_LIST)))
SWEEP_OUT       ?= sweep-out
SWEEP_TARGET    ?= qp-all
QP_MK           ?= $(dir $(lastword $(MAKEFILE_LIST)))quantpipe.mk
BUDGETS         ?= 4.5
QP_BIN          ?=

SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:

sweep_name = $(shell echo '$(basename $(notdir $(1)))' | sed 's/-[0-9]\{5\}-of-[0-9]\{5\}$$//')
sweep_names := $(foreach c,$(CHECKPOINTS),$(call sweep_name,$(c)))
sweep_prog = $(if $(QP_BIN),$(QP_BIN)/$(1),$(1))

.PHONY: sweep-all sweep-table $(addprefix sweep-job-,$(sweep_names)) FORCE

sweep-all: $(SWEEP_OUT)/sweep.tsv $(SWEEP_OUT)/sweep.svg

ifneq ($(words $(sweep_names)),$(words $(sort $(sweep_names))))
$(error sweep.mk: two checkpoints have the same name ($(sweep_names)); rename one)
endif

# One sub-make per checkpoint: make -j N runs N checkpoints at once (and
# the sub-makes share the job slots).
define sweep_job
sweep-job-$(call sweep_name,$(1)):
	+@$$(MAKE) --no-print-directory -f $(QP_MK) MODEL=$(1) QP_OUT=$(SWEEP_OUT)/$(call sweep_name,$(1)) \
		QP_NAME=$(call sweep_name,$(1)) BUDGETS='$(BUDGETS)' $(SWEEP_TARGET)
endef
$(foreach c,$(CHECKPOINTS),$(eval $(call sweep_job,$(c))))

# The sub-makes run every time (they decide what is stale); a table is
# rewritten only when one of its inputs is newer, the list of checkpoints
# and budgets kept in a stamp that changes only when the list does.
sweep_recipes = $(foreach n,$(sweep_names),$(foreach b,$(BUDGETS),$(SWEEP_OUT)/$(n)/$(n).$(b).recipe.mp))
sweep_inputs = $(SWEEP_OUT)/.table $(foreach n,$(sweep_names),$(SWEEP_OUT)/$(n)/$(n).dump.mp \
	$(SWEEP_OUT)/$(n)/$(n).sens.mp) $(sweep_recipes)
sweep_fresh = [ -f $@ ] && [ -z "$$(find $(sweep_inputs) -newer $@ 2>/dev/null)" ]

$(SWEEP_OUT)/.table: FORCE
	@test -n '$(CHECKPOINTS)' || { echo 'sweep.mk: set CHECKPOINTS= or CHECKPOINT_LIST=' >&2; exit 2; }
	@mkdir -p $(SWEEP_OUT)
	@v='$(sweep_names) / $(BUDGETS)'; [ -f $@ ] && [ "$$(cat $@)" = "$$v" ] || printf '%s\n' "$$v" >$@

$(SWEEP_OUT)/sweep.tsv: $(addprefix sweep-job-,$(sweep_names)) $(SWEEP_OUT)/.table
	@$(sweep_fresh) || { { printf 'checkpoint\tn_bytes\tn_params'; \
	   for b in $(BUDGETS); do printf '\t%s.n_bytes\t%s.pred\t%s.lo\t%s.hi' $$b $$b $$b $$b; done; \
	   printf '\tmost_sensitive\n'; \
	   for n in $(sweep_names); do \
	     d=$(SWEEP_OUT)/$$n; \
	     printf '%s\t' $$n; \
	     $(call sweep_prog,rec-show) --tsv -H -k model -f n_bytes,n_params $$d/$$n.dump.mp | head -n 1 | tr '\n' '\t'; \
	     for b in $(BUDGETS); do \
	       if [ -f $$d/$$n.$$b.recipe.mp ]; then \
	         $(call sweep_prog,rec-show) --tsv -H -k recipe -f n_bytes,pred.value,pred.lo,pred.hi \
	           $$d/$$n.$$b.recipe.mp | head -n 1 | tr '\n' '\t'; \
	       else printf '\t\t\t\t'; fi; \
	     done; \
	     $(call sweep_prog,rec-show) --tsv -H -f sens.score,name $$d/$$n.sens.mp | sort -t '	' -k1,1gr -k2,2 | \
	       head -n 3 | cut -f2 | paste -sd, -; \
	   done; } >$@.tmp && mv $@.tmp $@ && echo "quantpipe: $@"; }

# The recipe records carry their model's records (model, scored tensors);
# a checkpoint without recipes (SWEEP_TARGET=qp-qerr) is drawn from its
# sens-score records: its size and most sensitive tensors.
$(SWEEP_OUT)/sweep.svg: $(addprefix sweep-job-,$(sweep_names)) $(SWEEP_OUT)/.table
	@$(sweep_fresh) || { set --; \
	   for n in $(sweep_names); do \
	     d=$(SWEEP_OUT)/$$n; found=; \
	     for b in $(BUDGETS); do [ -f $$d/$$n.$$b.recipe.mp ] && { set -- "$$@" $$d/$$n.$$b.recipe.mp; found=1; }; done; \
	     [ -n "$$found" ] || set -- "$$@" $$d/$$n.sens.mp; \
	   done; \
	   $(call sweep_prog,rec-plot) -q --compare \
	     --title 'quantpipe sweep: $(words $(sweep_names)) checkpoints at $(BUDGETS)' -o $@ "$$@" && \
	   echo "quantpipe: $@"; }

FORCE:
