/* plot.h — the size/quality frontier and a recipe's type map as SVG.
 *
 * Promise: qp_plot_svg() writes one plain SVG 1.1 document (no scripts, no
 * timestamps, no external references; numbers printed with fixed
 * precision, so the same input gives the same bytes): panel 1 is the
 * predicted loss against bits per weight (as llama-quantize prints it;
 * the top axis gives the file size in MiB, from the recipes' own sizes),
 * our frontier as a line with its interval band, every other recipe
 * (llama.cpp's named mixes, files) as a labelled point, and measured runs
 * as points with error bars; the loss axis is logarithmic when every
 * value is positive.  Panel 2, when a map recipe is given, is a layer x
 * role grid of that recipe's types, coloured by bits per weight, with a
 * legend.  Text is XML-escaped.
 */
#ifndef QP_PLOT_H
#define QP_PLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "recipe.h"

typedef enum qp_plot_kind {
	QP_PLOT_FRONTIER, /* ours: joined by a line, band lo..hi */
	QP_PLOT_NAMED,    /* a labelled point with its interval */
	QP_PLOT_MEASURED, /* a measured run: point and error bar */
} qp_plot_kind;

typedef struct qp_plot_point {
	qp_plot_kind kind;
	double bpw;
	double bytes;  /* file size, 0 when unknown */
	double y, lo, hi;
	bool has_interval;
	char label[64];
} qp_plot_point;

typedef struct qp_plot {
	const char *title;
	const char *y_label;      /* "predicted mean KLD" */
	const qp_plot_point *pts;
	int n_pts;
	const qp_recipe *map;     /* NULL: no map panel */
	const char *map_label;
} qp_plot;

int qp_plot_svg(const qp_plot *p, qp_buf *out, qp_err *e);

/* A colour for a type (by its nominal bits per weight), "#rrggbb". */
void qp_plot_type_colour(uint32_t type, char out[8]);

#endif
