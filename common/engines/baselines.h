/* baselines.h — what the tools before quantpipe would predict for a
 * configuration, side by side with the calibrated proxy.
 *
 * Promise: for one configuration (a type per tensor, proxy.h's views),
 * three uncalibrated baselines, each computed only from what its source
 * defines and left out (has_* false) where the configuration gives it
 * nothing to work with:
 *
 *  - ramp_local: sum over quantized tensors of
 *    w_role * w_depth * w_size * nsds * rel^2, the local sensitivity
 *    proxy of RAMP (Gautam and Jha 2026, arXiv 2603.17891) from
 *    sens-score's parts (sens.w_role, w_depth, w_size, nsds) and the
 *    tensor's measured relative error; arbitrary units (a ranking).
 *    Needs sens on every quantized tensor.
 *  - quantbenchx_bpw: the perplexity increase quantbenchx predicts from
 *    the configuration's bits per weight alone, by linear interpolation
 *    of the bpw -> delta-PPL curve it publishes (stef41/quantbench,
 *    src/quantbench/predict.py, _PERPLEXITY_CURVE: 14 points from 16 bpw,
 *    0, to 1.5 bpw, 3.5; clamped at the ends).  bpw here counts every
 *    tensor: qerr.<type>.n_bytes for quantized ones, the record's
 *    n_bytes for the rest.
 *  - taf_band: the quant-regime band of TAF (taf-agent,
 *    js/quant_regime.js): its per-scheme base penalty (GGUF Q8_0 0.008,
 *    Q5_K_M 0.020, Q4_K_M 0.050, Q3_K_M 0.110, Q2_K 0.180) against its
 *    bands (safe <= 0.015, mild <= 0.04, significant <= 0.08, cliff
 *    above), for the scheme of the configuration's dominant type (most
 *    quantized elements: Q8_0, Q5_K, Q4_K, Q3_K, Q2_K).  TAF's
 *    architecture adjustment is not applied (its rule was not readable
 *    in the source we had); other dominant types get no band.
 */
#ifndef QP_BASELINES_H
#define QP_BASELINES_H

#include <stdbool.h>

#include "err.h"
#include "proxy.h"

typedef struct qp_baselines {
	bool has_ramp;
	double ramp_local;
	bool has_bpw;
	double bpw, quantbenchx_dppl;
	bool has_taf;
	const char *taf_band;   /* "safe", "mild", "significant", "cliff" */
	int taf_rank;           /* 0..3 in that order */
	const char *taf_scheme; /* TAF's scheme id, e.g. "gguf_q4_km" */
	double taf_penalty;
} qp_baselines;

int qp_baselines_compute(const qp_proxy_tensor *tensors, int n_tensors,
			 const char *const *types, qp_baselines *out);

/* quantbenchx's published curve at bpw. */
double qp_quantbenchx_dppl(double bpw);

#endif
