/* The local output circuit of Amit's Section 2.3 (Eqs. 8-9), as
 * reconstructed here without the paper (algorithms.md §8.4): three units
 * per output class c that turn the feedforward drive h_c and the label
 * into the error of Eq. 5 with nothing but thresholds and a gate.
 *
 *   t  control: a self-inhibiting unit, t' = H(1/2 - t), which alternates
 *      0, 1, 0, ... and gates the other two (H(x) = 1 if x > 0, else 0);
 *   o  output:  o' = sigma(h) + t' s, the saturated feedforward drive plus,
 *      while the gate is open, the supervisor's input;
 *   s  supervisor: while the gate is closed it reads the output and the
 *      label input y (1 for the target class, else 0),
 *        S(o, y) = H(2y - 1 - o) - mu H(o + 1 - 2y),
 *      and while it is open it holds: s' = t' s + (1 - t') S(o', y).
 *
 * Updated in that order each step, from any state the circuit is on a
 * cycle of period 2 after two steps: (t, o, s) = (0, sigma(h), delta) and
 * (1, sigma(h) + delta, delta), delta the error of Eq. 5 (1 on a target
 * below +1, -mu on a non-target above -1, else 0). The output's activity
 * across the cycle differs by delta, so a Hebbian update over the two
 * phases, (o(t=1) - o(t=0)) x^T, is the rule's output increment. */
#ifndef PLASTIC_URFB_CIRCUIT_H
#define PLASTIC_URFB_CIRCUIT_H

typedef struct urfb_circuit {
    float o, t, s;
} urfb_circuit;

/* The supervisor's response S(o, y). */
float urfb_supervisor(float o, int y, float mu);

/* One step of the circuit for drive h, label input y (0 or 1) and mu. */
void urfb_circuit_step(urfb_circuit *c, float h, int y, float mu);

#endif
