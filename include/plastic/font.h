/* A built-in bitmap font for text in pictures (no font files): printable
 * ASCII 32..126, glyphs designed for this project.
 *
 * Every glyph is PL_FONT_GLYPH_W x PL_FONT_GLYPH_H pixels and glyphs follow
 * each other PL_FONT_ADVANCE pixels apart (one blank column between them).
 * Rows 0..6 hold capitals, digits and ascenders; the baseline is the bottom
 * of row 6; lowercase letters fill rows 2..6 and descenders (g j p q y , ; _)
 * reach rows 7..8. Text is drawn at an integer scale: every font pixel
 * becomes a scale x scale block. */
#ifndef PLASTIC_FONT_H
#define PLASTIC_FONT_H

enum {
    PL_FONT_GLYPH_W = 5,
    PL_FONT_GLYPH_H = 9,
    PL_FONT_ADVANCE = 6,
    PL_FONT_CAP_H = 7 /* rows 0..6: height of capitals and digits */
};

/* Nonzero if pixel (x, y) of the glyph for c is ink. Characters outside
 * 32..126 draw as '?'; (x, y) outside the glyph gives 0. */
int pl_font_ink(int c, int x, int y);

/* Width in pixels of s drawn at scale: 0 for "" or NULL, else
 * (PL_FONT_ADVANCE * strlen(s) - 1) * scale. */
long pl_font_text_width(const char *s, int scale);

#endif
