/* The protocol after a search (src/sweep/sweep_report.c): per cell (a
 * combination of the axes outside sweep.tune, e.g. one (p, k)), the tuned
 * point (values of the tuned axes, KH: readout.*) with the lowest mean
 * validation error over its repeats; those retrained on the full training
 * set (final stage); and the Fig. 6-style summary of the final runs:
 * report.md and heatmap.png. */
#ifndef PLASTIC_REPORT_H
#define PLASTIC_REPORT_H

#include "plastic/sweep.h"
#include "plastic/table.h"

/* How many of runs[0..n) have a row in the table. */
long pl_sweep_count_done(const pl_sweep *sw, const pl_table *t, const pl_sweep_run *runs,
                         long n);

/* Search runs the table still lacks (grid and random: runs of the
 * expansion without a row; TPE: repeats missing from fewer than `trials`
 * complete points, counted as runs). 0 means the search is complete. */
long pl_sweep_missing(const pl_sweep *sw, const pl_table *t);

/* The final stage's runs: the best tuned point of every cell, final_repeats
 * times. Cells whose every point failed get none. *runs is allocated. */
long pl_sweep_final_runs(const pl_sweep *sw, const pl_table *t, pl_sweep_run **runs);

/* Writes <dir>/report.md and, for two cell axes, <dir>/heatmap.png from the
 * table's search and final rows. Returns 0 or PL_EXIT_DATA. */
int pl_sweep_write_report(const pl_sweep *sw, const pl_table *t);

#endif
