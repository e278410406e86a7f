"""The levels of the sections read from plain text, outermost first.

Legal divisions and numbered headings interleave in one order, so the detectors that
find them and the hierarchy that places them share it.
"""

from __future__ import annotations

PART, CHAPTER, DIVISION, NUMBERED = 1, 2, 3, 4
# Numbered headings take the levels from NUMBERED on, one a level of nesting.
NUMBERED_DEPTH = 5
OUTER_ARTICLE, ARTICLE, CLAUSE = 9, 10, 11
# Legal levels sit below every explicit heading level (DOCX goes down to Heading 9), so
# divisions found in the body nest under the heading whose section holds them.
BELOW_HEADINGS = 10
