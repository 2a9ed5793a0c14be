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
 *
 * qp_plot_compare_svg() draws a comparison of checkpoints, the same way
 * (plain, deterministic, escaped): panel 1 is each checkpoint's predicted
 * loss with its interval, one coloured series per column (a budget), the
 * checkpoints along the x axis; below it a table with one line per
 * checkpoint: its file size and parameter count, for each column the
 * prediction [lo, hi] and the recipe's size, and its most sensitive
 * tensors.  Every checkpoint is in the table whatever their number.
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

/* One checkpoint's recipe in one column of a comparison. */
typedef struct qp_compare_cell {
	int col;
	double n_bytes, bpw;
	double y, lo, hi;
	bool has_interval;
} qp_compare_cell;

#define QP_COMPARE_TOP 3

typedef struct qp_compare_row {
	char *id;                  /* the model's id */
	double n_bytes, n_params;  /* < 0: no model record seen */
	qp_compare_cell *cells;    /* at most one per column */
	int n_cells;
	size_t cap_cells;
	int n_top;                 /* most sensitive first */
	char *top[QP_COMPARE_TOP];
	double top_score[QP_COMPARE_TOP];
} qp_compare_row;

typedef struct qp_compare {
	const char *title;
	char target[16];           /* "" until chosen */
	char **cols;               /* "4.5 bpw", "3 GiB", "mix:Q4_K_M" */
	int n_cols;
	size_t cap_cols;
	qp_compare_row *rows;      /* in order of first appearance */
	int n_rows;
	size_t cap_rows;
	int last_row;              /* lookup cache: records come by model */
} qp_compare;

int qp_plot_compare_svg(const qp_compare *c, qp_buf *out, qp_err *e);

/* A colour for a type (by its nominal bits per weight), "#rrggbb". */
void qp_plot_type_colour(uint32_t type, char out[8]);

#endif
