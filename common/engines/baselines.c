/* baselines.c — see baselines.h. */
#include "baselines.h"

#include <math.h>
#include <string.h>

#include "rec.h"

/* quantbenchx 0.3.0 (stef41/quantbench src/quantbench/predict.py),
 * bpw -> expected perplexity increase, as published. */
static const double qbx_curve[][2] = {
	{16.0, 0.0}, {8.5, 0.01}, {6.5, 0.03}, {5.5, 0.05}, {4.85, 0.08},
	{4.5, 0.12}, {4.0, 0.18}, {3.9, 0.22}, {3.5, 0.35}, {3.35, 0.45},
	{3.0, 0.65}, {2.5, 1.0}, {2.0, 1.8}, {1.5, 3.5},
};
#define N_QBX ((int)(sizeof qbx_curve / sizeof qbx_curve[0]))

double qp_quantbenchx_dppl(double bpw)
{
	if (bpw >= qbx_curve[0][0])
		return qbx_curve[0][1];
	if (bpw <= qbx_curve[N_QBX - 1][0])
		return qbx_curve[N_QBX - 1][1];
	for (int i = 0; i + 1 < N_QBX; i++) {
		double x1 = qbx_curve[i][0], y1 = qbx_curve[i][1];
		double x2 = qbx_curve[i + 1][0], y2 = qbx_curve[i + 1][1];
		if (bpw <= x1 && bpw >= x2) {
			double t = (bpw - x2) / (x1 - x2);
			return y1 * t + y2 * (1 - t);
		}
	}
	return NAN; /* not reached: the curve covers every bpw */
}

/* TAF (taf-agent js/quant_regime.js): GGUF schemes and regime bands. */
static const struct {
	const char *type, *scheme;
	double penalty;
} taf_schemes[] = {
	{"Q8_0", "gguf_q8_0", 0.008}, {"Q5_K", "gguf_q5_km", 0.020},
	{"Q4_K", "gguf_q4_km", 0.050}, {"Q3_K", "gguf_q3_km", 0.110},
	{"Q2_K", "gguf_q2_k", 0.180},
};
static const struct {
	const char *name;
	double max_shift;
} taf_bands[] = {{"safe", 0.015}, {"mild", 0.04}, {"significant", 0.08}};

static bool num(const msgpack_object *o, double *v)
{
	return qp_obj_number(o, v);
}

int qp_baselines_compute(const qp_proxy_tensor *tensors, int n_tensors,
			 const char *const *types, qp_baselines *out)
{
	memset(out, 0, sizeof *out);
	double ramp = 0, bits = 0, elems = 0;
	bool ramp_ok = true, bpw_ok = true;
	/* Dominant type: the most quantized elements (ties: first seen). */
	const char *dom = NULL;
	double dom_elems = 0;
	struct { const char *type; double elems; } seen[64];
	int n_seen = 0;
	for (int i = 0; i < n_tensors; i++) {
		const qp_proxy_tensor *t = &tensors[i];
		const char *ty = types[i];
		elems += (double)t->n_elem;
		bool quantized = ty && !qp_proxy_type_is_unquantized(t->base_type, ty);
		const msgpack_object *ent = quantized ? qp_map_get(t->qerr, ty) : NULL;
		if (quantized) {
			const msgpack_object *as = ent ? qp_map_get(ent, "as") : NULL;
			if (as && as->type == MSGPACK_OBJECT_STR) {
				char b[16];
				size_t n = as->via.str.size < 15 ? as->via.str.size : 15;
				memcpy(b, as->via.str.ptr, n);
				b[n] = 0;
				if (qp_proxy_type_is_unquantized(t->base_type, b))
					quantized = false;
			}
		}
		if (!quantized) {
			bits += 8 * (double)t->n_bytes;
			continue;
		}
		double nb, rel;
		if (ent && num(qp_map_get(ent, "n_bytes"), &nb))
			bits += 8 * nb;
		else
			bpw_ok = false;
		double wr, wd, ws, nsds;
		const msgpack_object *s = t->sens;
		if (s && num(qp_map_get(s, "w_role"), &wr) && num(qp_map_get(s, "w_depth"), &wd) &&
		    num(qp_map_get(s, "w_size"), &ws) && num(qp_map_get(s, "nsds"), &nsds) &&
		    ent && num(qp_map_get(ent, "rel"), &rel) && isfinite(wr * wd * ws * nsds * rel))
			ramp += wr * wd * ws * nsds * rel * rel;
		else
			ramp_ok = false;
		int k;
		for (k = 0; k < n_seen; k++)
			if (!strcmp(seen[k].type, ty))
				break;
		if (k == n_seen && n_seen < 64)
			seen[n_seen++].type = ty, seen[k].elems = 0;
		if (k < 64) {
			seen[k].elems += (double)t->n_elem;
			if (seen[k].elems > dom_elems) {
				dom_elems = seen[k].elems;
				dom = seen[k].type;
			}
		}
	}
	if (ramp_ok && dom) {
		out->has_ramp = true;
		out->ramp_local = ramp;
	}
	if (bpw_ok && elems > 0) {
		out->has_bpw = true;
		out->bpw = bits / elems;
		out->quantbenchx_dppl = qp_quantbenchx_dppl(out->bpw);
	}
	for (size_t i = 0; dom && i < sizeof taf_schemes / sizeof taf_schemes[0]; i++)
		if (!strcmp(dom, taf_schemes[i].type)) {
			out->has_taf = true;
			out->taf_scheme = taf_schemes[i].scheme;
			out->taf_penalty = taf_schemes[i].penalty;
			out->taf_band = "cliff";
			out->taf_rank = 3;
			for (int b = 2; b >= 0; b--)
				if (taf_schemes[i].penalty <= taf_bands[b].max_shift) {
					out->taf_band = taf_bands[b].name;
					out->taf_rank = b;
				}
		}
	return 0;
}
