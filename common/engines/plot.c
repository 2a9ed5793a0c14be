/* plot.c — plain SVG: frontier panel and type map panel. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "types.h"

#define W 960.0
#define PX0 90.0
#define PX1 (W - 190.0)
#define PY0 70.0
#define PY1 400.0

static void put_escaped(qp_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': qp_buf_puts(b, "&amp;"); break;
		case '<': qp_buf_puts(b, "&lt;"); break;
		case '>': qp_buf_puts(b, "&gt;"); break;
		case '"': qp_buf_puts(b, "&quot;"); break;
		default:
			if ((unsigned char)*s >= 0x20)
				qp_buf_putc(b, *s);
		}
	}
}

static double type_bits(uint32_t type)
{
	const qp_type_info *t = qp_type_info_by_id(type);
	return t && t->block_size ? 8.0 * t->type_size / t->block_size : 0;
}

void qp_plot_type_colour(uint32_t type, char out[8])
{
	static const unsigned char stops[9][3] = {
		{0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b},
		{0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c}, {0x28, 0xae, 0x80},
		{0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25},
	};
	double bits = type_bits(type);
	double t = bits > 0 ? (log2(bits) - log2(1.5)) / (log2(32) - log2(1.5)) : 1;
	if (t < 0)
		t = 0;
	if (t > 1)
		t = 1;
	double pos = t * 8;
	int i = (int)floor(pos);
	if (i >= 8)
		i = 7;
	double f = pos - i;
	int rgb[3];
	for (int c = 0; c < 3; c++)
		rgb[c] = (int)lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]));
	snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* Ticks at 1, 2, 5 x 10^k covering [lo, hi], about n of them. */
static int nice_ticks(double lo, double hi, int n, double *t, int cap)
{
	double span = hi - lo;
	if (!(span > 0))
		span = fabs(hi) > 0 ? fabs(hi) : 1;
	double raw = span / n, mag = pow(10, floor(log10(raw)));
	double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
	int k = 0;
	for (double v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9 && k < cap; v += step)
		t[k++] = fabs(v) < step * 1e-9 ? 0 : v;
	return k;
}

typedef struct axes {
	double x0, x1, y0, y1;
	bool ylog;
} axes;

static double sx(const axes *a, double x)
{
	return PX0 + (x - a->x0) / (a->x1 - a->x0) * (PX1 - PX0);
}

static double sy(const axes *a, double y)
{
	if (a->ylog) {
		double v = y > 0 ? log10(y) : a->y0;
		return PY1 - (v - a->y0) / (a->y1 - a->y0) * (PY1 - PY0);
	}
	return PY1 - (y - a->y0) / (a->y1 - a->y0) * (PY1 - PY0);
}

static void set_axes(const qp_plot *p, axes *a)
{
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
	bool pos = true;
	for (int i = 0; i < p->n_pts; i++) {
		const qp_plot_point *q = &p->pts[i];
		xmin = fmin(xmin, q->bpw);
		xmax = fmax(xmax, q->bpw);
		double lo = q->has_interval ? q->lo : q->y, hi = q->has_interval ? q->hi : q->y;
		ymin = fmin(ymin, fmin(lo, q->y));
		ymax = fmax(ymax, fmax(hi, q->y));
		/* measured zeros (an F16 run) sit on the axis floor */
		if (q->y <= 0 && q->kind != QP_PLOT_MEASURED)
			pos = false;
	}
	if (p->n_pts == 0) {
		xmin = 0;
		xmax = 1;
		ymin = 0;
		ymax = 1;
		pos = false;
	}
	double xs = xmax - xmin > 0 ? xmax - xmin : 1;
	a->x0 = xmin - 0.04 * xs;
	a->x1 = xmax + 0.04 * xs;
	a->ylog = pos;
	if (pos) {
		/* interval ends at zero are drawn at the axis floor */
		double floor_v = INFINITY;
		for (int i = 0; i < p->n_pts; i++)
			if (p->pts[i].y > 0)
				floor_v = fmin(floor_v, p->pts[i].y);
		if (!isfinite(floor_v))
			floor_v = 1e-6;
		if (ymin <= 0 || ymin < floor_v / 100)
			ymin = floor_v / 100 > 0 ? fmax(ymin, floor_v / 100) : floor_v;
		a->y0 = floor(log10(ymin));
		a->y1 = ceil(log10(ymax));
		/* four decades below the largest value: what lies further down
		 * (near-lossless types) is drawn on the floor */
		if (a->y0 < a->y1 - 4)
			a->y0 = a->y1 - 4;
		if (a->y1 <= a->y0)
			a->y1 = a->y0 + 1;
	} else {
		double ys = ymax - ymin > 0 ? ymax - ymin : 1;
		a->y0 = ymin - 0.05 * ys;
		a->y1 = ymax + 0.05 * ys;
	}
}

static void draw_y_axis(const axes *a, const char *label, qp_buf *b);

static void draw_axes(const qp_plot *p, const axes *a, qp_buf *b)
{
	qp_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#333\"/>\n",
		      PX0, PY0, PX1 - PX0, PY1 - PY0);
	double t[64];
	int n = nice_ticks(a->x0, a->x1, 8, t, 64);
	/* file size on the top axis: least squares bytes ~ bpw over recipes */
	double sxx = 0, sxy = 0, mx = 0, my = 0;
	int m = 0;
	for (int i = 0; i < p->n_pts; i++)
		if (p->pts[i].bytes > 0) {
			mx += p->pts[i].bpw;
			my += p->pts[i].bytes;
			m++;
		}
	if (m > 0) {
		mx /= m;
		my /= m;
		for (int i = 0; i < p->n_pts; i++)
			if (p->pts[i].bytes > 0) {
				sxx += (p->pts[i].bpw - mx) * (p->pts[i].bpw - mx);
				sxy += (p->pts[i].bpw - mx) * (p->pts[i].bytes - my);
			}
	}
	bool top = m >= 2 && sxx > 0;
	for (int i = 0; i < n; i++) {
		double x = sx(a, t[i]);
		qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>\n", x, PY0, x, PY1);
		qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%.6g</text>\n", x, PY1 + 16, t[i]);
		if (top) {
			double bytes = my + sxy / sxx * (t[i] - mx);
			qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#555\">%.2f</text>\n",
				      x, PY0 - 6, bytes / 1048576.0);
		}
	}
	qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">bits per weight (as llama-quantize prints it)</text>\n",
		      (PX0 + PX1) / 2, PY1 + 34);
	if (top)
		qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#555\">file size, MiB</text>\n",
			      (PX0 + PX1) / 2, PY0 - 22);
	draw_y_axis(a, p->y_label, b);
}

static void draw_y_axis(const axes *a, const char *label, qp_buf *b)
{
	double t[64];
	int n;
	if (a->ylog) {
		for (int d = (int)a->y0; d <= (int)a->y1; d++) {
			for (int k = 1; k <= 9; k++) {
				double v = log10(k) + d;
				if (v > a->y1 + 1e-9)
					break;
				double y = PY1 - (v - a->y0) / (a->y1 - a->y0) * (PY1 - PY0);
				qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
					      PX0, y, PX1, y, k == 1 ? "#ccc" : "#eee");
				if (k == 1)
					qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">1e%d</text>\n",
						      PX0 - 6, y + 4, d);
			}
		}
	} else {
		n = nice_ticks(a->y0, a->y1, 6, t, 64);
		for (int i = 0; i < n; i++) {
			double y = sy(a, t[i]);
			qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>\n", PX0, y, PX1, y);
			qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.6g</text>\n", PX0 - 6, y + 4, t[i]);
		}
	}
	qp_buf_printf(b, "<text transform=\"translate(%.2f %.2f) rotate(-90)\" text-anchor=\"middle\">",
		      PX0 - 58, (PY0 + PY1) / 2);
	put_escaped(b, label ? label : "predicted loss");
	qp_buf_puts(b, a->ylog ? " (log scale)</text>\n" : "</text>\n");
}

static int cmp_bpw(const void *x, const void *y)
{
	const qp_plot_point *a = *(const qp_plot_point *const *)x;
	const qp_plot_point *b = *(const qp_plot_point *const *)y;
	if (a->bpw != b->bpw)
		return a->bpw < b->bpw ? -1 : 1;
	return a->y < b->y ? -1 : a->y > b->y;
}

static double clampy(const axes *a, double y)
{
	double v = sy(a, y);
	return v > PY1 ? PY1 : v < PY0 ? PY0 : v;
}

static int draw_frontier(const qp_plot *p, const axes *a, qp_buf *b, qp_err *e)
{
	int n = 0;
	for (int i = 0; i < p->n_pts; i++)
		n += p->pts[i].kind == QP_PLOT_FRONTIER;
	if (n == 0)
		return 0;
	const qp_plot_point **f = malloc((size_t)n * sizeof *f);
	if (!f)
		return qp_fail(e, "out of memory");
	n = 0;
	for (int i = 0; i < p->n_pts; i++)
		if (p->pts[i].kind == QP_PLOT_FRONTIER)
			f[n++] = &p->pts[i];
	qsort(f, (size_t)n, sizeof *f, cmp_bpw);
	bool band = true;
	for (int i = 0; i < n; i++)
		band &= f[i]->has_interval;
	if (band) {
		qp_buf_puts(b, "<polygon fill=\"#1f77b4\" fill-opacity=\"0.18\" stroke=\"none\" points=\"");
		for (int i = 0; i < n; i++)
			qp_buf_printf(b, "%.2f,%.2f ", sx(a, f[i]->bpw), clampy(a, f[i]->hi));
		for (int i = n - 1; i >= 0; i--)
			qp_buf_printf(b, "%.2f,%.2f ", sx(a, f[i]->bpw), clampy(a, f[i]->lo));
		qp_buf_puts(b, "\"/>\n");
	}
	qp_buf_puts(b, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
	for (int i = 0; i < n; i++)
		qp_buf_printf(b, "%.2f,%.2f ", sx(a, f[i]->bpw), clampy(a, f[i]->y));
	qp_buf_puts(b, "\"/>\n");
	if (n <= 400)
		for (int i = 0; i < n; i++)
			qp_buf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"1.8\" fill=\"#1f77b4\"/>\n",
				      sx(a, f[i]->bpw), clampy(a, f[i]->y));
	free(f);
	return 0;
}

static void draw_points(const qp_plot *p, const axes *a, qp_buf *b)
{
	/* many measured runs: labels would hide each other, titles keep them */
	int n_meas = 0;
	for (int i = 0; i < p->n_pts; i++)
		n_meas += p->pts[i].kind == QP_PLOT_MEASURED;
	for (int i = 0; i < p->n_pts; i++) {
		const qp_plot_point *q = &p->pts[i];
		if (q->kind == QP_PLOT_FRONTIER)
			continue;
		double x = sx(a, q->bpw), y = clampy(a, q->y);
		bool meas = q->kind == QP_PLOT_MEASURED;
		const char *col = meas ? "#d62728" : "#222";
		qp_buf_puts(b, "<g>\n<title>");
		put_escaped(b, q->label);
		qp_buf_printf(b, ": %.6g at %.4f bpw", q->y, q->bpw);
		if (q->bytes > 0)
			qp_buf_printf(b, ", %.0f bytes", q->bytes);
		qp_buf_puts(b, "</title>\n");
		if (q->has_interval) {
			double lo = clampy(a, q->lo), hi = clampy(a, q->hi);
			qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
				      x, lo, x, hi, col);
			qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
				      x - 3, lo, x + 3, lo, col);
			qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
				      x - 3, hi, x + 3, hi, col);
		}
		if (meas)
			qp_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"6\" height=\"6\" fill=\"%s\"/>\n",
				      x - 3, y - 3, col);
		else
			qp_buf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>\n", x, y, col);
		if (!meas || n_meas <= 12) {
			qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"%s\">", x + 6,
				      y + (meas ? 12 : -6), col);
			put_escaped(b, q->label);
			qp_buf_puts(b, "</text>\n");
		}
		qp_buf_puts(b, "</g>\n");
	}
}

static void draw_legend(qp_buf *b)
{
	double x = PX1 + 14, y = PY0 + 8;
	qp_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n",
		      x, y, x + 20, y);
	qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\">our frontier (predicted)</text>\n", x + 26, y + 4);
	qp_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"20\" height=\"10\" fill=\"#1f77b4\" fill-opacity=\"0.18\"/>\n",
		      x, y + 14);
	qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\">its interval</text>\n", x + 26, y + 23);
	qp_buf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"#222\"/>\n", x + 10, y + 38);
	qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\">other recipes (predicted)</text>\n", x + 26, y + 42);
	qp_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"6\" height=\"6\" fill=\"#d62728\"/>\n", x + 7, y + 54);
	qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\">measured (+- its error)</text>\n", x + 26, y + 61);
}

/* ---- the type map ----------------------------------------------------- */

static int find_str(char (*v)[96], int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return -1;
}

static int draw_map(const qp_plot *p, double top, qp_buf *b, double *height,
		    qp_err *e)
{
	const qp_recipe *r = p->map;
	int cap = 64, n_roles = 0, max_layer = -1;
	char (*roles)[96] = malloc((size_t)cap * sizeof *roles);
	if (!roles)
		return qp_fail(e, "out of memory");
	bool global = false;
	for (size_t i = 0; i < r->n_tensors; i++) {
		qp_tensor_name tn;
		qp_parse_tensor_name(r->tensors[i].name, &tn);
		if (tn.family == QP_FAM_NORM)
			continue;
		if (tn.layer > max_layer)
			max_layer = tn.layer;
		if (tn.layer < 0)
			global = true;
		if (find_str(roles, n_roles, tn.role) < 0) {
			if (n_roles == cap) {
				cap *= 2;
				void *nr = realloc(roles, (size_t)cap * sizeof *roles);
				if (!nr) {
					free(roles);
					return qp_fail(e, "out of memory");
				}
				roles = nr;
			}
			snprintf(roles[n_roles++], 96, "%s", tn.role);
		}
	}
	int n_rows = max_layer + 1 + (global ? 1 : 0);
	double cw = n_roles ? fmin(96, (W - 200) / n_roles) : 96, rh = 16;
	double gx = 110, gy = top + 60;
	qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"14\">", gx, top + 20);
	qp_buf_puts(b, "types by layer and role: ");
	put_escaped(b, p->map_label ? p->map_label : r->source ? r->source : "recipe");
	if (r->has_file_bytes)
		qp_buf_printf(b, " (%.4f bpw, file %llu bytes)</text>\n", r->bpw, (unsigned long long)r->file_bytes);
	else
		qp_buf_printf(b, " (%.4f bpw, tensor data %llu bytes)</text>\n", r->bpw, (unsigned long long)r->n_bytes);
	for (int c = 0; c < n_roles; c++) {
		qp_buf_printf(b, "<text transform=\"translate(%.2f %.2f) rotate(-30)\" font-size=\"10\">",
			      gx + c * cw + 4, gy - 4);
		put_escaped(b, roles[c]);
		qp_buf_puts(b, "</text>\n");
	}
	for (int row = 0; row < n_rows; row++) {
		int layer = global ? row - 1 : row;
		if (layer < 0)
			qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"10\">global</text>\n",
				      gx - 6, gy + row * rh + 11);
		else
			qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"10\">layer %d</text>\n",
				      gx - 6, gy + row * rh + 11, layer);
	}
	uint32_t used[64];
	int n_used = 0;
	for (size_t i = 0; i < r->n_tensors; i++) {
		qp_tensor_name tn;
		qp_parse_tensor_name(r->tensors[i].name, &tn);
		if (tn.family == QP_FAM_NORM)
			continue;
		int c = find_str(roles, n_roles, tn.role);
		int row = global ? tn.layer + 1 : tn.layer;
		uint32_t ty = r->tensors[i].type;
		char col[8], tb[16];
		qp_plot_type_colour(ty, col);
		double x = gx + c * cw, y = gy + row * rh;
		qp_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" stroke=\"#fff\"><title>",
			      x, y, cw, rh, col);
		put_escaped(b, r->tensors[i].name);
		qp_buf_printf(b, " = %s</title></rect>\n", qp_type_name(ty, tb));
		if (cw >= 34)
			qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"9\" fill=\"%s\">%s</text>\n",
				      x + cw / 2, y + 11, type_bits(ty) >= 6 ? "#000" : "#fff", qp_type_name(ty, tb));
		bool seen = false;
		for (int u = 0; u < n_used; u++)
			seen |= used[u] == ty;
		if (!seen && n_used < 64)
			used[n_used++] = ty;
	}
	/* legend, by bits per weight then id */
	for (int i = 1; i < n_used; i++)
		for (int j = i; j > 0 && (type_bits(used[j]) < type_bits(used[j - 1]) ||
					  (type_bits(used[j]) == type_bits(used[j - 1]) && used[j] < used[j - 1])); j--) {
			uint32_t t = used[j];
			used[j] = used[j - 1];
			used[j - 1] = t;
		}
	double ly = gy + n_rows * rh + 20;
	for (int u = 0; u < n_used; u++) {
		char col[8], tb[16];
		qp_plot_type_colour(used[u], col);
		double x = gx + (u % 8) * 100, y = ly + (u / 8) * 18;
		qp_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", x, y, col);
		qp_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\">%s (%.4g)</text>\n", x + 18, y + 10,
			      qp_type_name(used[u], tb), type_bits(used[u]));
	}
	*height = (ly - top) + ((n_used + 7) / 8) * 18 + 20;
	free(roles);
	return 0;
}

/* The document around body (which is freed). */
static void put_document(qp_buf *out, qp_buf *body, double width, double height)
{
	qp_buf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
		      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n"
		      "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
		      ceil(width), ceil(height), ceil(width), ceil(height));
	qp_buf_append(out, body->p, body->len);
	qp_buf_puts(out, "</svg>\n");
	qp_buf_free(body);
}

int qp_plot_svg(const qp_plot *p, qp_buf *out, qp_err *e)
{
	axes a;
	set_axes(p, &a);
	qp_buf body = {0};
	qp_buf_printf(&body, "<text x=\"%.2f\" y=\"24\" font-size=\"15\">", PX0);
	put_escaped(&body, p->title ? p->title : "quantpipe frontier");
	qp_buf_puts(&body, "</text>\n");
	draw_axes(p, &a, &body);
	if (draw_frontier(p, &a, &body, e) != 0) {
		qp_buf_free(&body);
		return -1;
	}
	draw_points(p, &a, &body);
	draw_legend(&body);
	double h = PY1 + 50;
	if (p->map) {
		double mh = 0;
		if (draw_map(p, h, &body, &mh, e) != 0) {
			qp_buf_free(&body);
			return -1;
		}
		h += mh;
	}
	put_document(out, &body, W, h);
	return 0;
}

/* ---- a comparison of checkpoints -------------------------------------- */

static const char *const series_colour[8] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
};

static const qp_compare_cell *cell_at(const qp_compare_row *r, int col)
{
	for (int i = 0; i < r->n_cells; i++)
		if (r->cells[i].col == col)
			return &r->cells[i];
	return NULL;
}

/* The middle of checkpoint i's slot on the x axis, and its series j
 * side by side around it. */
static double slot_x(const qp_compare *c, int i)
{
	return PX0 + (i + 0.5) * (PX1 - PX0) / c->n_rows;
}

static double series_x(const qp_compare *c, int i, int j)
{
	double step = fmin(10, (PX1 - PX0) / c->n_rows / (c->n_cols + 1));
	return slot_x(c, i) + (j - (c->n_cols - 1) / 2.0) * step;
}

static void put_num(qp_buf *b, double v)
{
	qp_buf_printf(b, "%.4g", v);
}

static void put_cell_text(qp_buf *b, const qp_compare_cell *q)
{
	put_num(b, q->y);
	if (q->has_interval) {
		qp_buf_puts(b, " [");
		put_num(b, q->lo);
		qp_buf_puts(b, ", ");
		put_num(b, q->hi);
		qp_buf_puts(b, "]");
	}
	if (q->n_bytes > 0)
		qp_buf_printf(b, ", %.2f MiB", q->n_bytes / 1048576.0);
}

/* The loss axis, chosen as the frontier panel chooses it. */
static int compare_axes(const qp_compare *c, axes *a, qp_err *e)
{
	int n = 0;
	for (int i = 0; i < c->n_rows; i++)
		n += c->rows[i].n_cells;
	qp_plot_point *pts = calloc(n ? (size_t)n : 1, sizeof *pts);
	if (!pts)
		return qp_fail(e, "out of memory");
	int k = 0;
	for (int i = 0; i < c->n_rows; i++)
		for (int j = 0; j < c->rows[i].n_cells; j++) {
			const qp_compare_cell *q = &c->rows[i].cells[j];
			pts[k++] = (qp_plot_point){.kind = QP_PLOT_NAMED, .bpw = i, .y = q->y, .lo = q->lo,
						   .hi = q->hi, .has_interval = q->has_interval};
		}
	qp_plot pp = {.pts = pts, .n_pts = n};
	set_axes(&pp, a);
	free(pts);
	return 0;
}

int qp_plot_compare_svg(const qp_compare *c, qp_buf *out, qp_err *e)
{
	if (c->n_rows == 0)
		return qp_fail(e, "no checkpoint to compare");
	axes a;
	if (compare_axes(c, &a, e) != 0)
		return -1;
	qp_buf body = {0};
	qp_buf_printf(&body, "<text x=\"%.2f\" y=\"24\" font-size=\"15\">", PX0);
	put_escaped(&body, c->title ? c->title : "quantpipe: checkpoints compared");
	qp_buf_puts(&body, "</text>\n");
	qp_buf_printf(&body, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#333\"/>\n",
		      PX0, PY0, PX1 - PX0, PY1 - PY0);
	char ylabel[64];
	snprintf(ylabel, sizeof ylabel, "predicted %s", c->target[0] ? c->target : "loss");
	draw_y_axis(&a, ylabel, &body);
	/* checkpoints along x, named while the names fit (the points' titles
	 * and the table always name them) */
	bool labels = c->n_rows <= 60;
	for (int i = 0; i < c->n_rows; i++) {
		double x = slot_x(c, i), edge = x - (PX1 - PX0) / c->n_rows / 2;
		if (i > 0)
			qp_buf_printf(&body, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#eee\"/>\n",
				      edge, PY0, edge, PY1);
		if (labels) {
			qp_buf_printf(&body, "<text transform=\"translate(%.2f %.2f) rotate(-30)\" text-anchor=\"end\" font-size=\"10\">",
				      x + 3, PY1 + 14);
			put_escaped(&body, c->rows[i].id);
			qp_buf_puts(&body, "</text>\n");
		}
	}
	for (int i = 0; i < c->n_rows; i++) {
		const qp_compare_row *r = &c->rows[i];
		for (int j = 0; j < c->n_cols; j++) {
			const qp_compare_cell *q = cell_at(r, j);
			if (!q)
				continue;
			const char *col = series_colour[j % 8];
			double x = series_x(c, i, j), y = clampy(&a, q->y);
			qp_buf_puts(&body, "<g>\n<title>");
			put_escaped(&body, r->id);
			qp_buf_puts(&body, " at ");
			put_escaped(&body, c->cols[j]);
			qp_buf_puts(&body, ": ");
			put_cell_text(&body, q);
			qp_buf_puts(&body, "</title>\n");
			if (q->has_interval) {
				double lo = clampy(&a, q->lo), hi = clampy(&a, q->hi);
				qp_buf_printf(&body, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
					      x, lo, x, hi, col);
				qp_buf_printf(&body, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
					      x - 2, lo, x + 2, lo, col);
				qp_buf_printf(&body, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
					      x - 2, hi, x + 2, hi, col);
			}
			qp_buf_printf(&body, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\"/>\n</g>\n", x, y, col);
		}
	}
	/* legend: one series per column */
	for (int j = 0; j < c->n_cols; j++) {
		double x = PX1 + 14, y = PY0 + 8 + j * 18;
		qp_buf_printf(&body, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>\n", x + 10, y, series_colour[j % 8]);
		qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">", x + 22, y + 4);
		put_escaped(&body, c->cols[j]);
		qp_buf_puts(&body, " (predicted, interval)</text>\n");
	}
	/* the table: one line per checkpoint, every checkpoint */
	const double top = PY1 + 110, rh = 16, id_x = 20, size_x = id_x + 220, params_x = size_x + 80,
		     cells_x = params_x + 80, cell_w = 230, sens_x = cells_x + c->n_cols * cell_w;
	double width = fmax(W, sens_x + 420);
	qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"14\">checkpoints compared</text>\n", id_x,
		      top - 26);
	qp_buf_printf(&body, "<g font-weight=\"bold\">\n<text x=\"%.2f\" y=\"%.2f\">checkpoint</text>\n"
		      "<text x=\"%.2f\" y=\"%.2f\">file MiB</text>\n<text x=\"%.2f\" y=\"%.2f\">params (M)</text>\n",
		      id_x, top, size_x, top, params_x, top);
	for (int j = 0; j < c->n_cols; j++) {
		qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\" fill=\"%s\">", cells_x + j * cell_w, top,
			      series_colour[j % 8]);
		put_escaped(&body, c->cols[j]);
		qp_buf_puts(&body, ": pred [lo, hi], size</text>\n");
	}
	qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">most sensitive tensors</text>\n</g>\n", sens_x, top);
	for (int i = 0; i < c->n_rows; i++) {
		const qp_compare_row *r = &c->rows[i];
		double y = top + (i + 1) * rh;
		if (i % 2 == 0)
			qp_buf_printf(&body, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#f4f4f4\"/>\n",
				      id_x - 4, y - 12, width - id_x, rh);
		qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">", id_x, y);
		put_escaped(&body, r->id);
		qp_buf_puts(&body, "</text>\n");
		if (r->n_bytes >= 0)
			qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">%.2f</text>\n", size_x, y, r->n_bytes / 1048576.0);
		if (r->n_params >= 0)
			qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">%.4g</text>\n", params_x, y, r->n_params / 1e6);
		for (int j = 0; j < c->n_cols; j++) {
			const qp_compare_cell *q = cell_at(r, j);
			qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">", cells_x + j * cell_w, y);
			if (q)
				put_cell_text(&body, q);
			else
				qp_buf_puts(&body, "-");
			qp_buf_puts(&body, "</text>\n");
		}
		qp_buf_printf(&body, "<text x=\"%.2f\" y=\"%.2f\">", sens_x, y);
		for (int k = 0; k < r->n_top; k++) {
			if (k)
				qp_buf_puts(&body, ", ");
			put_escaped(&body, r->top[k]);
		}
		qp_buf_puts(&body, "</text>\n");
	}
	double h = top + (c->n_rows + 2) * rh;
	put_document(out, &body, width, h);
	return 0;
}
