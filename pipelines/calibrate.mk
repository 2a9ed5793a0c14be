# calibrate.mk — the calibration loop with the real llama.cpp tools.
#
#   make -f calibrate.mk MODEL=model-f32.gguf EVAL_TEXT=eval.txt \
#        LLAMA_CPP=/opt/llama.cpp/bin BUDGETS="4.92 4.04"
#
# 1. proxy-fit --propose CAL_PROPOSE on the model's measured errors (the
#    uncalibrated prior) names the configurations worth measuring;
# 2. each is quantized with llama-quantize and measured with
#    llama-perplexity --kl-divergence against base logits made once;
#    measure-read turns the runs into measure records;
# 3. proxy-fit calibrates on them; recipe-emit writes a recipe per budget;
# 4. each recipe is quantized and measured once more (the verification
#    run), and the report compares what was measured with what was
#    predicted, interval included: CAL_OUT/report.tsv and report.svg.
#
# Variables (besides quantpipe.mk's MODEL, TYPES, BUDGETS, IMATRIX,
# QP_THREADS, QP_BIN):
#   LLAMA_CPP         folder of llama-quantize and llama-perplexity, or
#   LLAMA_QUANTIZE, LLAMA_PERPLEXITY  the programs themselves
#   EVAL_TEXT         the evaluation text (the same for every run)
#   PPL_ARGS          llama-perplexity options (default -c 256 -t QP_THREADS;
#                     add --chunks N for a quicker, noisier loop)
#   CAL_PROPOSE       how many configurations to measure (default 6)
#   CAL_OUT           folder of the loop's files (default qp-cal)
#
# Every file is written under a temporary name and renamed when complete,
# so an interrupted loop resumes where it stopped; quantized files are
# removed once measured.  llama-perplexity sometimes exits 0 without its
# final statistics: measure-read refuses such a log and the run is made
# again (up to three times).  Needs jq (make deps installs it).

CAL_OUT     ?= qp-cal
QP_OUT      ?= $(CAL_OUT)
CAL_PROPOSE ?= 6
LLAMA_CPP   ?=
LLAMA_QUANTIZE   ?= $(if $(LLAMA_CPP),$(LLAMA_CPP)/)llama-quantize
LLAMA_PERPLEXITY ?= $(if $(LLAMA_CPP),$(LLAMA_CPP)/)llama-perplexity
EVAL_TEXT   ?=
QP_THREADS  ?= 1
PPL_ARGS    ?= -c 256 -t $(QP_THREADS)

# The calibrated fit is quantpipe.mk's fit rule on the loop's runs.
RUNS        ?= $(CAL_OUT)/runs.mp

include $(dir $(lastword $(MAKEFILE_LIST)))quantpipe.mk

cal = $(CAL_OUT)
cal_quantize = $(LLAMA_QUANTIZE) $(if $(IMATRIX),--imatrix $(IMATRIX))
# run NAME GGUF: one measured run of GGUF into $(cal)/runs/NAME.mp, the log
# opening with the command line so measure-read can check what it measured.
define cal_measure
	for try in 1 2 3; do \
	  { echo "$$ $(LLAMA_PERPLEXITY) -m $(2) -f $(EVAL_TEXT) $(PPL_ARGS) --kl-divergence-base $(cal)/base.kld --kl-divergence"; \
	    $(LLAMA_PERPLEXITY) -m $(2) -f $(EVAL_TEXT) $(PPL_ARGS) \
	      --kl-divergence-base $(cal)/base.kld --kl-divergence 2>&1; } >$(cal)/runs/$(1).log || true; \
	  if $(call qp_prog,measure-read) -q --base-model $(notdir $(MODEL)) -o $(cal)/runs/$(1).mp \
	       $(cal)/runs/$(1).log=$(2) 2>$(cal)/runs/$(1).err; then break; fi; \
	  echo "calibrate: $(1): $$(cat $(cal)/runs/$(1).err) (try $$try)" >&2; \
	  [ $$try -lt 3 ] || exit 1; \
	done
endef

.PHONY: cal-all cal-runs cal-verify cal-check-tools

cal-all: $(cal)/report.tsv $(cal)/report.svg

cal-check-tools:
	@test -n '$(EVAL_TEXT)' || { echo 'calibrate.mk: set EVAL_TEXT=eval.txt' >&2; exit 2; }
	@command -v $(LLAMA_QUANTIZE) >/dev/null && command -v $(LLAMA_PERPLEXITY) >/dev/null || \
	  { echo 'calibrate.mk: llama-quantize/llama-perplexity not found: set LLAMA_CPP=dir' >&2; exit 2; }

$(cal)/base.kld: $(MODEL) $(EVAL_TEXT) | cal-check-tools
	@mkdir -p $(cal)/runs
	$(LLAMA_PERPLEXITY) -m $(MODEL) -f $(EVAL_TEXT) $(PPL_ARGS) --kl-divergence-base $@.tmp >$(cal)/base.log 2>&1
	mv $@.tmp $@
	@echo "quantpipe: $@"

$(cal)/proposals.mp: $(qp_base).qerr.mp
	$(call qp_prog,proxy-fit) $(qp_opts) --propose $(CAL_PROPOSE) -o $@ $<
	@echo "quantpipe: $@"

# One run per proposal; a proposal measured already (its .mp exists) is
# not measured again.
$(cal)/runs.mp: $(cal)/proposals.mp $(cal)/base.kld
	@mkdir -p $(cal)/runs
	$(call qp_prog,rec-show) -k recipe $< | \
	  jq -r '[(.label | gsub("[^A-Za-z0-9_.-]+"; "_")), .ftype, (.quantize_args | @sh)] | @tsv' \
	  >$(cal)/proposals.tsv
	while IFS='	' read -r name ftype args; do \
	  [ -f $(cal)/runs/$$name.mp ] && continue; \
	  eval "$(cal_quantize) $$args $(MODEL) $(cal)/runs/$$name.gguf $$ftype" >$(cal)/runs/$$name.quantize.log 2>&1 || \
	    { echo "calibrate: llama-quantize failed for $$name, see $(cal)/runs/$$name.quantize.log" >&2; exit 1; }; \
	  $(call cal_measure,$$name,$(cal)/runs/$$name.gguf); \
	  rm -f $(cal)/runs/$$name.gguf; \
	  echo "quantpipe: $(cal)/runs/$$name.mp"; \
	done <$(cal)/proposals.tsv
	cat $$(cut -f1 $(cal)/proposals.tsv | sed 's|^|$(cal)/runs/|; s|$$|.mp|') >$@.tmp && mv $@.tmp $@
	@echo "quantpipe: $@"

# A verification run per budget: the recipe quantized as it is and measured.
$(cal)/verify-%.mp: $(qp_base).%.recipe.mp $(qp_base).%.tensor-types $(cal)/base.kld
	@mkdir -p $(cal)/runs
	set -- $$($(call qp_prog,rec-show) --tsv -H -k recipe -f ftype,pure $<) && \
	  $(cal_quantize) $$([ "$$2" = true ] && echo --pure) --tensor-type-file $(qp_base).$*.tensor-types \
	    $(MODEL) $(cal)/runs/verify-$*.gguf $$1 >$(cal)/runs/verify-$*.quantize.log 2>&1
	$(call cal_measure,verify-$*,$(cal)/runs/verify-$*.gguf)
	rm -f $(cal)/runs/verify-$*.gguf
	$(call qp_prog,proxy-fit) -q --fit $(qp_base).fit.mp -o $@ $(qp_base).qerr.mp $(cal)/runs/verify-$*.mp
	@echo "quantpipe: $@"

# budget, planned bytes, measured bytes, predicted (lo, hi), measured, inside
$(cal)/report.tsv: $(foreach b,$(BUDGETS),$(cal)/verify-$(b).mp)
	{ printf 'budget\trecipe_bytes\tmeasured_bytes\tpred\tlo\thi\tmeasured\tinside\n'; \
	  for b in $(BUDGETS); do \
	    r=$$($(call qp_prog,rec-show) --tsv -H -k recipe -f n_bytes $(qp_base).$$b.recipe.mp); \
	    $(call qp_prog,rec-show) --tsv -H -k measure -f n_bytes,pred.value,pred.lo,pred.hi,kld_mean \
	      $(cal)/verify-$$b.mp | while IFS='	' read -r nb p lo hi m; do \
	        in=$$(awk -v m=$$m -v lo=$$lo -v hi=$$hi 'BEGIN { print (m >= lo && m <= hi) ? "yes" : "no" }'); \
	        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $$b $$r $$nb $$p $$lo $$hi $$m $$in; \
	      done; \
	  done; } >$@.tmp && mv $@.tmp $@
	@echo "quantpipe: $@"

$(cal)/report.svg: $(cal)/report.tsv $(qp_base).fit.mp
	$(call qp_prog,recipe-emit) -q --frontier $(qp_base).fit.mp | \
	  cat $(qp_base).$(firstword $(BUDGETS)).recipe.mp - $(foreach b,$(BUDGETS),$(cal)/verify-$(b).mp) $(cal)/runs.mp | \
	  $(call qp_prog,rec-plot) -q -m 1 --title '$(QP_NAME): calibrated prediction and verification runs' -o $@
	@echo "quantpipe: $@"
