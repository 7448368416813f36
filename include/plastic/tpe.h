/* Tree-structured Parzen estimator (Bergstra et al., NIPS 2011) over a
 * discrete search space: naxes axes, axis a taking one of nvalues[a] values
 * given by index 0..nvalues[a]-1 (the indices are ordered: neighbouring
 * indices are neighbouring values, e.g. p = 2,3,4,5,6).
 *
 * A proposal splits the observations into the best fraction gamma ("good")
 * and the rest ("bad"), models each axis with a Parzen density over indices
 * for both groups, draws candidates from the good density and returns the
 * one with the largest good/bad ratio. Before `startup` observations exist
 * (or with fewer than 2), the proposal is uniform at random. Pure and
 * deterministic: the result depends only on the arguments. */
#ifndef PLASTIC_TPE_H
#define PLASTIC_TPE_H

#include <stdint.h>

typedef struct pl_tpe_space {
    int naxes;
    const int *nvalues;     /* naxes entries, each >= 1 */
} pl_tpe_space;

typedef struct pl_tpe_history {
    int nobs;               /* finished points */
    const int *obs;         /* nobs x naxes value indices */
    const double *loss;     /* nobs losses; NaN or +-inf = failed (worst) */
    int npending;           /* points proposed but not finished */
    const int *pending;     /* npending x naxes */
} pl_tpe_history;

typedef struct pl_tpe_options {
    double gamma;           /* fraction of observations that are "good"; 0: 0.25 */
    int candidates;         /* draws from the good density; 0: 24 */
    int startup;            /* random proposals before the model is used; 0: 10 */
} pl_tpe_options;

/* Writes a proposal (naxes value indices) to out. It avoids points already
 * observed or pending while unseen points remain (once the space is used up
 * it repeats one). seed and proposal key the random draws (Philox stream
 * PL_STREAM_SWEEP_TPE, substream proposal).
 *
 * Observations are ranked by loss, ties by position in obs; the good group
 * is the first max(1, ceil(gamma nobs)) of them but never a failed run (with
 * every run failed the good density is the uniform prior, and the proposal
 * moves away from the failures). Observed or pending points with an index
 * outside the space (say, from an earlier, larger space) are ignored. hist
 * NULL is no history, opt NULL the defaults; options <= 0 take the default
 * and gamma > 1 counts as 1.
 *
 * Returns 0, or -1, writing nothing, if the space is empty (some nvalues
 * < 1) or malformed (naxes < 0, or a NULL array that should hold entries).
 * With naxes == 0 it returns 0 and writes nothing. */
int pl_tpe_propose(const pl_tpe_space *space, const pl_tpe_history *hist,
                   const pl_tpe_options *opt, uint64_t seed, uint64_t proposal, int *out);

#endif
